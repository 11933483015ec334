"""Word n-gram language models for CTC beam decoding."""
