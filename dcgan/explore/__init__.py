"""Exploring a generator: latent maths, the views the app and CLI show, images and GIFs, directions and sensitivity."""
