"""``rtag align``: train a shared image-text space on a catalog's own photos and titles.

options.py (what training takes, and its defaults); pairs.py (catalog -> image/title pairs,
validation split, data hash) -> towers.py (which parts of an open_clip model stay frozen)
-> features.py (frozen features, computed once and cached) -> train.py (contrastive
training, validation recall, checkpoints) -> model_dir.py (the saved, versioned model
folder that ``--image-model`` accepts).
"""
