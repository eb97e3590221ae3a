"""Encoders turn product text and images into L2-normalised float32 vectors.

``registry.load_text_encoder(spec)`` and ``registry.load_image_encoder(spec)`` are the
entry points; specs are plain strings stored in every index manifest, and the registry's
tables say which module builds each form. Torch-free: base, pixels, colour, hashing and
onnx/ (what a query from cached ONNX exports runs); torch: text, image, lite,
clip_models, model_dir, checksum and onnx/export (building, exporting, training).
"""
