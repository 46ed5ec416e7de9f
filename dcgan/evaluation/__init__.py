"""Evaluation: the domain classifier, its embeddings, the metrics, full and periodic evaluation, reports, nearest training images."""
