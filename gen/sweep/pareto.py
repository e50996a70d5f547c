"""The Pareto fronts of a sweep: the points no other point beats on frames a second and on
energy per frame, or on frames a second and area, and their plot."""

__all__ = ["front", "plot"]


def front(rows, cost):
    """Indices of the ``rows`` that fit and that no other fitting row dominates: none has
    at least their ``frames_per_s`` and at most their ``cost`` (a key of the rows), one of
    them strictly."""
    fits = [(index, (row["frames_per_s"], -row[cost])) for index, row in enumerate(rows) if row["fits"]]

    def dominates(this, that):
        return this != that and all(mine >= theirs for mine, theirs in zip(this, that))

    return [index for index, scores in fits if not any(dominates(other, scores) for _, other in fits)]


def plot(rows, path, title):
    """``path`` (PNG): frames a second against energy per frame (mJ) and against area
    (mm^2), every point that fits (on log scales, if any fits), each front drawn and
    labelled with its configurations."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    fits = [row for row in rows if row["fits"]]
    figure, panes = pyplot.subplots(1, 2, figsize=(12, 5), layout="constrained")
    for axes, cost, scale, label in ((panes[0], "energy_j_per_frame", 1e3, "energy per frame, mJ"),
                                     (panes[1], "area_mm2", 1, "area of the MACs and memories, mm²")):
        axes.scatter([row[cost] * scale for row in fits], [row["frames_per_s"] for row in fits],
                     color="tab:gray", s=14, label="fits")
        best = sorted((rows[index] for index in front(rows, cost)), key=lambda row: row[cost])
        axes.plot([row[cost] * scale for row in best], [row["frames_per_s"] for row in best], "o-",
                  color="tab:red", label="Pareto front")
        for row in best:
            point = f"{row['cores']} {row['lanes']}x{row['columns']} {row['weight_kb']} KB int{row['bits']}"
            axes.annotate(point, (row[cost] * scale, row["frames_per_s"]), fontsize=6, xytext=(4, 2),
                          textcoords="offset points")
        if fits:
            axes.set_xscale("log")
            axes.set_yscale("log")
        axes.set_xlabel(label)
        axes.set_ylabel("frames/s")
        axes.legend(fontsize=7)
    figure.suptitle(f"{title}: {len(fits)} of {len(rows)} points fit")
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
