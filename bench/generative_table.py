import sys, h5py, numpy as np
for path in sys.argv[1:]:
    m = h5py.File(path, "r")["models"]
    p = m["proportions"][()]
    shares = np.stack([m[f"generated_share_{k}"][()] for k in range(p.shape[1])], 1)
    outside = 1 - shares.sum(1)
    found_big = []
    for k in range(p.shape[1]):
        big = p[:, k] >= 0.1
        found_big.append(((shares[:, k] >= 0.05) & big).sum() / max(big.sum(), 1))
    print(f"{path}: median mode_tv {np.median(m['mode_tv'][()]):.3f}, outside share median {np.median(outside):.3f} "
          f"(max {outside.max():.3f}), modes {np.median(m['modes_found'][()]):.1f}/{np.median(m['modes_expected'][()]):.1f}, "
          f"median FID {np.median(m['fid'][()]):.1f}, statuses {dict(zip(*np.unique(m['status'][()].astype(str), return_counts=True)))}, "
          f"classes >=10% with share >=5%: {['%.2f' % f for f in found_big]}, train s {m['train_seconds'][()].sum():.0f}"
          + (f", real-image floor: FID {np.median(m['real_fid'][()]):.1f}, mode_tv {np.median(m['real_mode_tv'][()]):.3f}"
             if "real_fid" in m else ""))
