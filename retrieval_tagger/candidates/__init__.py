"""Candidate tags for each product: neighbour votes per modality, then fusion."""
