"""Index folders: manifest (what built it), FAISS stores per modality, ids and tags."""
