"""The property layer: generated requests judged by h11, which `classify.py` corrects only where
the RFCs leave a server a choice; `requests.py` draws the requests and their malformed variants."""
