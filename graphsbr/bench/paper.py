"""Published test numbers from the five papers, to set beside our reproductions.

``PAPER[dataset][model]`` holds ``{"source": "<paper file stem>, Table N", "metrics": {...}}`` with metrics as
fractions in [0, 1] under our names (``hr@K`` = the papers' P@K / Recall@K / HR@K / H@K, ``mrr@K`` = MRR@K / M@K,
``ndcg@K`` = NDCG@K / N@K). Values are copied exactly as printed (percentages divided by 100); a metric the paper does
not print is absent. Where two papers report the same dataset, the paper listed first (a2dmtl for diginetica/tmall,
comif for beauty) owns the plain baseline keys and every baseline from the other paper is keyed ``"<model>@<paper>"``.
Papers are in ``../shared/papers/``. ``PROTOCOL_NOTES`` says why the numbers may not be directly comparable to ours.
``VARIANTS[dataset][model]`` holds the papers' ablation rows, each with the settings of ours that build it.
"""
from __future__ import annotations

A2DMTL = "a2dmtl__001_12ab72227b260046"
SCORENET = "scorenet__000_15544975fcf402a1"
COMIF = "comif__002_8d767b08966c12dd"
ASIF = "asif__003_6fd74d006e5e5d56"
SRIM = "srim__004_ecb54287fa8b6456"

PAPER: dict[str, dict[str, dict]] = {
    "diginetica": {
        # A2D-MTL Table 2, columns "Diginetica P@20 MRR@20" (percent); rows "A 2 D-MTL", "GRU4Rec", "SR-GNN".
        "a2dmtl": {"source": f"{A2DMTL}, Table 2", "metrics": {"hr@20": 0.6194, "mrr@20": 0.2325}},
        "gru4rec": {"source": f"{A2DMTL}, Table 2", "metrics": {"hr@20": 0.2949, "mrr@20": 0.0822}},
        "srgnn": {"source": f"{A2DMTL}, Table 2", "metrics": {"hr@20": 0.5073, "mrr@20": 0.1759}},
        # ScoreNet Table 2, columns "Diginetica P@10 P@20 MRR@10 MRR@20" (percent, '*' significance marks dropped).
        "scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.4276, "hr@20": 0.5627, "mrr@10": 0.1938, "mrr@20": 0.2032},
        },
        # ScoreNet Table 2 row "GRU4Rec".
        "gru4rec@scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.2617, "hr@20": 0.3927, "mrr@10": 0.0969, "mrr@20": 0.1059},
        },
        # ScoreNet Table 2 row "SR-GNN".
        "srgnn@scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.3772, "hr@20": 0.5050, "mrr@10": 0.1675, "mrr@20": 0.1763},
        },
        # ScoreNet Table 2 row "CORE" (Hou et al. 2022; CORE-trm or CORE-ave not stated).
        "core@scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.4103, "hr@20": 0.5436, "mrr@10": 0.1795, "mrr@20": 0.1887},
        },
        # ScoreNet Table 2 row "NOVA" (Liu et al. 2021; printed as NOVA, backbone not stated).
        "nova@scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.3969, "hr@20": 0.5386, "mrr@10": 0.1709, "mrr@20": 0.1803},
        },
        # ScoreNet Table 2 row "DIF-SR".
        "difsr@scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.4030, "hr@20": 0.5348, "mrr@10": 0.1725, "mrr@20": 0.1817},
        },
    },
    "tmall": {
        # A2D-MTL Table 2, columns "Tmall P@20 MRR@20" (percent; the extracted header reads "Small", column order
        # Diginetica/Tmall/Yoochoose1_64 confirmed by Table 3 and Table 1); rows "A 2 D-MTL", "GRU4Rec", "SR-GNN".
        "a2dmtl": {"source": f"{A2DMTL}, Table 2", "metrics": {"hr@20": 0.4138, "mrr@20": 0.1743}},
        "gru4rec": {"source": f"{A2DMTL}, Table 2", "metrics": {"hr@20": 0.1093, "mrr@20": 0.0589}},
        "srgnn": {"source": f"{A2DMTL}, Table 2", "metrics": {"hr@20": 0.2757, "mrr@20": 0.1372}},
        # ScoreNet Table 2, columns "Tmall P@10 P@20 MRR@10 MRR@20" (percent, '*' dropped). Table 4 row "All" prints
        # 44.80 / 52.24 / 22.81 / 23.25 for the same model; Table 2 is the one recorded.
        "scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.4481, "hr@20": 0.5224, "mrr@10": 0.2273, "mrr@20": 0.2325},
        },
        # ScoreNet Table 2 row "GRU4Rec".
        "gru4rec@scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.0974, "hr@20": 0.1093, "mrr@10": 0.0578, "mrr@20": 0.0589},
        },
        # ScoreNet Table 2 row "SR-GNN".
        "srgnn@scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.2341, "hr@20": 0.2757, "mrr@10": 0.1345, "mrr@20": 0.1372},
        },
        # ScoreNet Table 2 row "CORE" (variant not stated).
        "core@scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.3297, "hr@20": 0.3931, "mrr@10": 0.1872, "mrr@20": 0.1916},
        },
        # ScoreNet Table 2 row "NOVA" (backbone not stated).
        "nova@scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.2820, "hr@20": 0.3366, "mrr@10": 0.1551, "mrr@20": 0.1589},
        },
        # ScoreNet Table 2 row "DIF-SR".
        "difsr@scorenet": {
            "source": f"{SCORENET}, Table 2",
            "metrics": {"hr@10": 0.2914, "hr@20": 0.3492, "mrr@10": 0.1626, "mrr@20": 0.1667},
        },
    },
    "beauty": {
        # COMIF Table 3, dataset "Beauty", metric rows "R@10 R@20 NDCG@10 NDCG@20" (fractions); column "Ours".
        "comif": {
            "source": f"{COMIF}, Table 3",
            "metrics": {"hr@10": 0.0979, "hr@20": 0.1449, "ndcg@10": 0.0474, "ndcg@20": 0.0592},
        },
        # COMIF Table 3 column "GRU4Rec".
        "gru4rec": {
            "source": f"{COMIF}, Table 3",
            "metrics": {"hr@10": 0.0537, "hr@20": 0.0808, "ndcg@10": 0.0282, "ndcg@20": 0.0351},
        },
        # COMIF Table 3 column "SASRec".
        "sasrec": {
            "source": f"{COMIF}, Table 3",
            "metrics": {"hr@10": 0.0859, "hr@20": 0.1222, "ndcg@10": 0.0420, "ndcg@20": 0.0512},
        },
        # COMIF Table 3 column "NOVA" (NOVA [15]; backbone, SASRec or BERT, not stated).
        "nova": {
            "source": f"{COMIF}, Table 3",
            "metrics": {"hr@10": 0.0872, "hr@20": 0.1240, "ndcg@10": 0.0435, "ndcg@20": 0.0527},
        },
        # COMIF Table 3 column "DIF" (DIF-SR [10] in the baseline list).
        "difsr": {
            "source": f"{COMIF}, Table 3",
            "metrics": {"hr@10": 0.0876, "hr@20": 0.1256, "ndcg@10": 0.0431, "ndcg@20": 0.0526},
        },
        # ASIF Table 2, columns "Beauty H@10 H@20 N@10 N@20" (fractions); row "ASIF".
        "asif": {
            "source": f"{ASIF}, Table 2",
            "metrics": {"hr@10": 0.0922, "hr@20": 0.1322, "ndcg@10": 0.0453, "ndcg@20": 0.0554},
        },
        # ASIF Table 2 row "GRU4Rec".
        "gru4rec@asif": {
            "source": f"{ASIF}, Table 2",
            "metrics": {"hr@10": 0.0510, "hr@20": 0.0766, "ndcg@10": 0.0268, "ndcg@20": 0.0333},
        },
        # ASIF Table 2 row "SASRec".
        "sasrec@asif": {
            "source": f"{ASIF}, Table 2",
            "metrics": {"hr@10": 0.0861, "hr@20": 0.1225, "ndcg@10": 0.0424, "ndcg@20": 0.0516},
        },
        # ASIF Table 2 row "NOVA" (NOVA on a SASRec backbone, "as in [18]" = DIF-SR's code; not NOVA-BERT).
        "nova@asif": {
            "source": f"{ASIF}, Table 2",
            "metrics": {"hr@10": 0.0866, "hr@20": 0.1240, "ndcg@10": 0.0441, "ndcg@20": 0.0535},
        },
        # ASIF Table 2 row "DIF-SR".
        "difsr@asif": {
            "source": f"{ASIF}, Table 2",
            "metrics": {"hr@10": 0.0871, "hr@20": 0.1234, "ndcg@10": 0.0434, "ndcg@20": 0.0526},
        },
    },
    # The SRIM paper reports only Amazon Cellphones, Grocery and Sports (Tables 1 and 3); it has no Scientific
    # number, so there is nothing to put beside ours.
    "scientific": {},
}

#: The papers' ablation rows: ``VARIANTS[dataset][model]`` is a list of ``{"name", "settings", "source", "metrics"}``;
#: a row of ours whose model settings differ from the defaults in exactly ``settings`` is that variant.
VARIANTS: dict[str, dict[str, list[dict]]] = {
    # A2D-MTL Table 3, columns "Diginetica P@20 MRR@20" and "Tmall P@20 MRR@20" (percent); its last row, the full
    # model, repeats Table 2.
    "diginetica": {"a2dmtl": [dict(row, source=f"{A2DMTL}, Table 3") for row in (
        {"name": "w/o CATE", "settings": {"use_category": False}, "metrics": {"hr@20": 0.5292, "mrr@20": 0.1665}},
        {"name": "w/o EXP", "settings": {"category_graph": False}, "metrics": {"hr@20": 0.5456, "mrr@20": 0.2113}},
        {"name": "w/o SPA", "settings": {"sparse_attention": False}, "metrics": {"hr@20": 0.5685, "mrr@20": 0.1922}},
        {"name": "w/o AdaSPA", "settings": {"adaptive_alpha": False},
         "metrics": {"hr@20": 0.5921, "mrr@20": 0.2067}},
    )]},
    "tmall": {"a2dmtl": [dict(row, source=f"{A2DMTL}, Table 3") for row in (
        {"name": "w/o CATE", "settings": {"use_category": False}, "metrics": {"hr@20": 0.3525, "mrr@20": 0.1334}},
        {"name": "w/o EXP", "settings": {"category_graph": False}, "metrics": {"hr@20": 0.3654, "mrr@20": 0.1629}},
        {"name": "w/o SPA", "settings": {"sparse_attention": False}, "metrics": {"hr@20": 0.3957, "mrr@20": 0.1519}},
        {"name": "w/o AdaSPA", "settings": {"adaptive_alpha": False},
         "metrics": {"hr@20": 0.4009, "mrr@20": 0.1578}},
    )]},
    # ASIF Table 4, columns "Beauty H@20 N@20" (fractions).
    "beauty": {"asif": [dict(row, source=f"{ASIF}, Table 4") for row in (
        {"name": "w/o RSA", "settings": {"rsa": False}, "metrics": {"hr@20": 0.1292, "ndcg@20": 0.0540}},
        {"name": "w/o HIE", "settings": {"hie": False}, "metrics": {"hr@20": 0.1255, "ndcg@20": 0.0543}},
        {"name": "w/o UP", "settings": {"untied_positions": False}, "metrics": {"hr@20": 0.1298, "ndcg@20": 0.0550}},
        {"name": "w/o FA", "settings": {"fused_attention": False}, "metrics": {"hr@20": 0.1317, "ndcg@20": 0.0544}},
    )]},
}
PROTOCOL_NOTES: dict[str, str] = {
    "diginetica": (
        "A2D-MTL: SR-GNN/GCE-GNN preprocessing (last week's sessions = test, test items unseen in training dropped, "
        "length-1 sessions and items seen <5 times removed; 719,470 prefix-augmented training / 60,858 test sessions, "
        "43,097 items), category side info, P@20/MRR@20 over all items, no validation split or max length stated. "
        "ScoreNet cites the same preprocessing but its Table 1 differs (526,135 train / 44,279 test, 40,840 items, "
        "858,108 clicks), so the two papers' Diginetica numbers come from different splits; ScoreNet tunes on a "
        "validation set and reports P/MRR@10,20; neither paper reports NDCG or K=5."
    ),
    "tmall": (
        "Both papers use the GCE-GNN Tmall split (351,268 training / 25,898 test sessions, 40,728 items; last-period "
        "sessions as test, ranking over all items). A2D-MTL uses category only and reports P@20/MRR@20; ScoreNet "
        "uses category + brand, reports P/MRR@10,20, and its Table 4 'All' row (44.80/52.24/22.81/23.25) disagrees "
        "with Table 2 (44.81/52.24/22.73/23.25) at @10. No max length stated in either."
    ),
    "beauty": (
        "Amazon Beauty, 5-core users and items (COMIF 22,363 users / 12,101 items, ASIF 22,364 / 12,102, both "
        "198,502 interactions), leave-one-out (last item test, second-last validation), full ranking over all items, "
        "K in 10, 20 only, no MRR, RecBole. COMIF: hidden 128, early stop on validation Recall@20, side info brand + "
        "category + position, max length not stated. ASIF: max length 50, embedding 256, 3 layers x 4 heads, best "
        "model by validation NDCG@20, side info category + position; its NOVA is SASRec-based."
    ),
    "scientific": (
        "No published number: the SRIM paper evaluates Amazon Cellphones, Grocery and Sports sessions (amazon_v2, "
        "last item as target, 7:2:1 temporal train/valid/test split, P@K/MRR@K for K in 10, 20), not Scientific."
    ),
}


def paper_value(dataset: str, model: str, metric: str, settings: dict | None = None) -> tuple[float | None, str]:
    """The paper's number for a row and the paper's stem (the seed model's own paper first, then another paper's
    copy of the row), or ``(None, "")``. A row with ``settings`` (what it changes from the model's defaults, values
    as given or as their text) gets the number of the paper's ablation row with the same settings (:data:`VARIANTS`)."""
    if settings:
        wanted = {key: str(value).lower() for key, value in settings.items()}
        for variant in VARIANTS.get(dataset, {}).get(model, []):
            if wanted == {key: str(value).lower() for key, value in variant["settings"].items()}:
                found = variant["metrics"].get(metric)
                return (found, variant["source"].split("__")[0]) if found is not None else (None, "")
        return None, ""
    for key, entry in PAPER.get(dataset, {}).items():
        if key.split("@")[0] == model and metric in entry["metrics"]:
            return entry["metrics"][metric], entry["source"].split("__")[0]
    return None, ""
