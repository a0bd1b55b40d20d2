"""What of a draft is shown: claims checked against the passages they cite, quotes, judgements."""
