"""Selection kernels: distances, k-NN, k-center, k-means++ and clustering."""
