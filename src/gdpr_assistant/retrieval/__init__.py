"""Finding the passages for a question: dense (Chroma) and lexical (BM25) rankings fused."""
