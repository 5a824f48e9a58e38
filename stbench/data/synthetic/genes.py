"""The gene panel of a synthetic cohort: marker genes per tissue domain, continuous programs,
baseline abundances and dispersions (shared by all slides of a cohort)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DOMAINS: tuple[str, ...] = ("tumour", "stroma", "immune", "fat", "normal_epithelium")
"""The tissue domains, in the order used by ``demo_info.json``."""

N_EXTRA_POOL = 40  # slide-specific extra genes are drawn from this pool
MIN_GENES = 300
MARKERS_PER_DOMAIN = 30

# Realistic gene names per program; the rest of each program is filled with GENE#### names.
NAMED_MARKERS: dict[str, tuple[str, ...]] = {
    "tumour": ("EPCAM", "KRT8", "KRT18", "KRT19", "CEACAM5", "MUC1", "ERBB2", "CDH1", "SOX9", "CLDN4"),
    "stroma": ("DCN", "LUM", "PDGFRB", "FAP", "ACTA2", "VIM", "TAGLN", "MGP", "CXCL12", "PDGFRA"),
    "immune": ("PTPRC", "CD3E", "CD3D", "CD2", "CD19", "MS4A1", "CD79A", "IGKC", "CCL19", "CXCL13", "LTB", "CD74"),
    "fat": ("ADIPOQ", "PLIN1", "FABP4", "LEP", "LPL", "CIDEA", "CIDEC", "CFD", "PPARG", "RBP4"),
    "normal_epithelium": ("KRT5", "KRT14", "KRT15", "TP63", "SCGB2A2", "PIP", "MUCL1", "AZGP1", "KRT23", "OXTR"),
}
NAMED_PROLIF = (
    "MKI67", "TOP2A", "PCNA", "CCNB1", "CDK1", "BIRC5", "MCM2", "TYMS", "UBE2C", "CENPF", "RRM2", "CDC20", "AURKA",
    "PTTG1",
)  # fmt: skip
NAMED_ECM = ("COL1A1", "COL1A2", "COL3A1", "COL5A1", "FN1", "SPARC", "POSTN", "MMP2")
NAMED_IFN = ("ISG15", "IFI6", "IFIT1", "IFIT3", "MX1", "OAS1", "STAT1", "IRF7", "IFI44L", "RSAD2")
NAMED_HOUSEKEEPING = (
    "ACTB", "GAPDH", "MALAT1", "B2M", "EEF1A1", "TMSB4X", "FTL", "FTH1", "RPLP0", "RPS27A", "MT-CO1", "MT-ND1",
    "MT-CO2", "MT-ATP6",
)  # fmt: skip
PROGRAM_SIZE = {"proliferation": 20, "ecm": 16, "interferon": 20}
PROGRAM_GAIN = {"proliferation": 2.0, "ecm": 2.5, "interferon": 1.0}


@dataclass
class Panel:
    names: list[str]  # (G_all,) master genes then the extra pool
    n_master: int
    log_base: np.ndarray  # (G_all,) baseline log abundance
    domain_lfc: np.ndarray  # (K, G_all) log fold changes of each domain's programme
    markers: list[np.ndarray]  # K arrays of gene indices
    programs: dict[str, np.ndarray]  # program name -> gene indices
    dispersion: np.ndarray  # (G_all,) NB dispersion phi (var = mu + phi mu^2)
    droppable: np.ndarray  # master genes a slide may lack (background genes only)


def make_gene_panel(rng: np.random.Generator, n_genes: int) -> Panel:
    names = [f"GENE{i + 1:04d}" for i in range(n_genes)]
    named_groups = [*NAMED_MARKERS.values(), NAMED_PROLIF, NAMED_ECM, NAMED_IFN, NAMED_HOUSEKEEPING]
    n_named = sum(len(g) for g in named_groups)
    slots = rng.permutation(n_genes)
    free = list(slots[n_named:])  # positions that keep a GENE#### name, in random order
    pos = iter(slots[:n_named])
    group_idx = []
    for group in named_groups:
        idx = []
        for name in group:
            p = int(next(pos))
            names[p] = name
            idx.append(p)
        group_idx.append(idx)
    k = len(DOMAINS)
    extras = [f"LOC9000{j:02d}" for j in range(N_EXTRA_POOL)]
    names = names + extras
    g_all = len(names)

    log_base = rng.normal(0.0, 1.5, g_all)
    hk = group_idx[-1]
    log_base[hk] = rng.uniform(4.0, 6.0, len(hk))
    # Fill every programme up to its size with background genes of moderate-to-high baseline.
    order = [p for p in free if log_base[p] > np.quantile(log_base[:n_genes], 0.35)]
    take = iter(order)
    markers = []
    for d in range(k):
        idx = list(group_idx[d]) + [int(next(take)) for _ in range(MARKERS_PER_DOMAIN - len(group_idx[d]))]
        markers.append(np.array(idx))
    programs = {}
    for j, name in enumerate(("proliferation", "ecm", "interferon")):
        idx = list(group_idx[k + j])
        idx += [int(next(take)) for _ in range(PROGRAM_SIZE[name] - len(idx))]
        programs[name] = np.array(idx)
    for d in range(k):  # named markers are well expressed
        log_base[group_idx[d]] += 1.0

    lfc = rng.normal(0.0, 0.15, (k, g_all))
    for d in range(k):
        lfc[d, markers[d]] = np.log(rng.uniform(4.0, 10.0, len(markers[d])))
    used = set(np.concatenate(markers + list(programs.values())).tolist()) | set(hk)
    droppable = np.array([p for p in range(n_genes) if p not in used])
    dispersion = np.exp(rng.normal(np.log(0.15), 0.5, g_all))
    return Panel(names, n_genes, log_base, lfc, markers, programs, dispersion, droppable)
