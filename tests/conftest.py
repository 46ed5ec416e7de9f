"""Settings every test shares."""
import os
import tempfile

# decoded image folders are cached in the user's ~/.cache; tests keep theirs apart (and start empty),
# trainer subprocesses included, since they inherit the environment
os.environ["DCGAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="dcgan-test-cache-")
