"""Type aliases shared by the model builders."""
from typing import List

from thinc.types import Floats2d, Floats3d

# One array per doc: [n_layers, n_tokens, width].
DocLayers = List[Floats3d]
# One array per doc: [n_tokens, width].
DocVectors = List[Floats2d]
