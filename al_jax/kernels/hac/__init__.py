"""Average-linkage HAC (paper 000): exact (Algorithm 1), multi-round over a
k-NN graph and cluster assignment (appendix A.2), one dispatcher.

  labels = hac.cluster(x, hac.eps_for_average_size(x, 10.0))   # 'auto'
"""

from al_jax.kernels.hac.assign import eps_c_for_average_size
from al_jax.kernels.hac.assign import hac_assign
from al_jax.kernels.hac.dispatch import cluster
from al_jax.kernels.hac.dispatch import eps_for_average_size
from al_jax.kernels.hac.dispatch import METHODS
from al_jax.kernels.hac.dispatch import resolve
from al_jax.kernels.clusters import canonical_labels
from al_jax.kernels.clusters import check_embeddings
from al_jax.kernels.clusters import check_threshold
from al_jax.kernels.clusters import warn_if_giant
from al_jax.kernels.hac.exact import average_linkage_heights
from al_jax.kernels.hac.exact import hac_average
from al_jax.kernels.hac.exact import MAX_EXACT_POINTS
from al_jax.kernels.hac.multiround import eps_for_average_size_multiround
from al_jax.kernels.hac.multiround import hac_multiround
