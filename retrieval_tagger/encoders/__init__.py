"""Encoders turn product text and images into L2-normalised float32 vectors.

``registry.load_text_encoder(spec)`` and ``registry.load_image_encoder(spec)`` are the
entry points; specs are plain strings stored in every index manifest.
"""
