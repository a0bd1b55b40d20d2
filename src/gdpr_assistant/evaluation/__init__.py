"""The evaluation harness over question sets in the format of shared/eval/dev.jsonl."""
