"""Shared text tools: words (folded, stemmed), sentences, language, Markdown marks, the EN→FR glossary."""
