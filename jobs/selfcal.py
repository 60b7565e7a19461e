"""The self-calibration comparison: Self-Cal, SGS and IGSP sets written by the model itself vs
the uniform multi-source mix and the general-text default, pruned and evaluated alike over
several seeds (``calray.sweep.selfcal_study``).

    python jobs/selfcal.py --config jobs/configs/selfcal_toy.yaml --report analysis/selfcal_toy.md   # offline
    ray job submit --working-dir . -- python jobs/selfcal.py --config jobs/configs/selfcal_llama.yaml

Generation runs in this process (``generation.where: driver``, the default: on the CPU or the GPU
the job is given), or as one Ray task per (generator, seed) on the cluster's GPUs
(``generation: {where: ray, num_gpus: 1}``, as in selfcal_llama.yaml); pruning and evaluation run
on the pool.
Exit status: 0 when every sweep finished trials, 1 otherwise, 2 on a bad config.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="study YAML (see calray.sweep.selfcal_study.SelfCalStudy)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field of the study, e.g. seeds=[0] or nsamples=16")
    parser.add_argument("--sweep-set", dest="sweep_overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field of every sweep, e.g. evaluation.limit=20")
    parser.add_argument("--smoke-test", action="store_true", help="one seed, tiny sets and evaluation, temporary MLflow")
    parser.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--report", metavar="PATH", help="also write the comparison table (markdown) here")
    parser.add_argument("--threads", type=int, help="torch CPU threads for generation in this process (1 on a busy CPU)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from calray.analysis.render import markdown_table
    from calray.cluster import init_ray
    from calray.errors import CalrayError
    from calray.format import format_table
    from calray.sweep.selfcal_study import generate_sets, load_study, objective_rows, plan_study, set_rows, study_rows
    from calray.sweep.studies import run_scaling, smoke_overrides

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    config = Path(args.config)
    overrides, sweep_overrides = list(args.overrides), list(args.sweep_overrides)
    if args.smoke_test:
        where = tempfile.mkdtemp(prefix="calray-smoke-")
        overrides += ["seeds=[0]", "nsamples=4", "seqlen=64", f"out_dir={where}/sets"]
        sweep_overrides += [o for o in smoke_overrides(where=where) if not o.startswith(("calibration.", "search."))]
    try:
        study = load_study(config, overrides=overrides)
        init_ray(args.address)
        sources, metas = generate_sets(study, base=config.resolve().parent)
        plan = plan_study(study, sources, base=config.resolve().parent, overrides=sweep_overrides)
        results = run_scaling(plan.sweeps)
    except CalrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    header, rows = study_rows(plan, results)
    print(format_table(header, rows))
    print(f"records: {results[0].tracking_uri} (experiment {results[0].experiment!r})")
    if args.report:
        command = "python jobs/selfcal.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        first = plan.sweeps[0]
        setting = (f"{study.model}, {first.prune.method} {first.prune.sparsity or first.prune.n_m} ({first.prune.mode}), "
                   f"{study.nsamples} x {study.seqlen} tokens per set, seeds {study.seeds}, capability map "
                   f"{first.evaluation.capability_map}, limit {first.evaluation.limit}")
        Path(args.report).write_text(
            f"# Self-calibration comparison: {study.name}\n\n- setting: {setting}\n- command: `{command}`\n"
            f"- records: {results[0].tracking_uri}, experiment `{results[0].experiment}`\n\n"
            "Retention (pruned / dense x 100) per dimension and in total: mean ± sample std over seeds; "
            "then each seed's total.\n\n" + markdown_table(header, rows) + "\n\n"
            "The generated sets' information metrics (calray.data.information_metrics on their windows; perplexity "
            "under the dense model), mean ± std over seeds:\n\n" + markdown_table(*set_rows(metas)) + "\n\n"
            "IGSP's selection objective J = seq-rep-4 + balance_weight x perplexity imbalance, per seed, beside "
            "its candidate pool:\n\n" + markdown_table(*objective_rows(metas)) + "\n"
        )
        print(f"report: {args.report}")
    return 0 if all(r.finished() for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
