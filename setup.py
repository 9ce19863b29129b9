"""The compiled kernels (simulation, profile scans, knapsack DP, sacct line scan, synthetic dump's node sweep);
metadata: pyproject.toml."""

import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# -ffp-contract=off: no fused multiply-add, so every sum and product rounds as in the Python
# reference engine (the fast engine must reproduce its schedules bit for bit).
FLAGS = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off"]

extensions = [
    Extension(
        "hpcsched.sim._fastsim",
        ["src/hpcsched/sim/_fastsim.pyx"],
        include_dirs=[np.get_include()],
        extra_compile_args=FLAGS,
    ),
    # the availability profile's earliest-start scan and conservative's hole scan (issue 16)
    Extension(
        "hpcsched.core._profile_scan",
        ["src/hpcsched/core/_profile_scan.pyx"],
        extra_compile_args=FLAGS,
    ),
    # the knapsack DP's inner loop; its C carries target_clones for AVX-512/AVX2 itself
    Extension(
        "hpcsched.plan._mck",
        ["src/hpcsched/plan/_mck.pyx"],
        include_dirs=[np.get_include()],
        extra_compile_args=FLAGS,
    ),
    # the sacct reader's per-line scan (field counts, JobID and MaxRSS bounds), line gather,
    # job lines split into Arrow string views, steps' MaxRSS values and node-list counts
    Extension(
        "hpcsched.workloads._sacct_scan",
        ["src/hpcsched/workloads/_sacct_scan.pyx"],
        include_dirs=[np.get_include()],
        extra_compile_args=FLAGS,
    ),
    # the synthetic sacct dump's node sweep (which free nodes each started job takes)
    Extension(
        "hpcsched.workloads._synth_nodes",
        ["src/hpcsched/workloads/_synth_nodes.pyx"],
        include_dirs=[np.get_include()],
        extra_compile_args=FLAGS,
    ),
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))
