"""serve.py: the deepfake-check web service (jobs, uploads, workers, the web application)."""
