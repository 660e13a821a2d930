"""genzoo_analysis: read genzoo's HDF5 files and study a run, with Debian's python3-numpy, -h5py, -scipy,
-matplotlib and -sklearn alone (no pip).

    import sys; sys.path.insert(0, "analysis")        # or PYTHONPATH=analysis
    from genzoo_analysis import zoo, reduce, distill, som

* zoo      -- RUN/zoo.h5: the /models columns, any model's weights and training subset, sample grids
* reduce   -- RUN/reduce.h5: vectorizations, probe, embedding, hierarchy, mutual information, priors
* distill  -- RUN/distill.h5: students' test losses against n per method, their weights
* som      -- a Kohonen self-organizing map (seed 003), its U-matrix, quantization and topographic errors
* simplex  -- class proportions on the simplex: ternary coordinates, Hellinger distances
* report   -- `python3 -m genzoo_analysis.report RUN` writes RUN/report/index.html

The old module names genzoo_zoo, genzoo_reduce and genzoo_distill (analysis/*.py) still import these.
"""

__all__ = ["zoo", "reduce", "distill", "som", "simplex"]
