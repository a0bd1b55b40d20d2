"""Reading the documents of the corpus folder into text with locations (pages, lines)."""
