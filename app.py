"""DCGAN Explorer: the browser app. Hugging Face Spaces runs this file.

python app.py                          # http://127.0.0.1:7860, the shipped faces model (faces-64)
python app.py --model runs/fmnist      # a training run (or any model folder, or a Hub id)
python app.py --host 0.0.0.0 --share   # reachable from other machines / a public gradio.live link
"""

import argparse
import os


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="DCGAN Explorer: see what a DCGAN has learned, in the browser.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to serve on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    parser.add_argument("--model", action="append", default=[], help="a model folder or Hub id to show first")
    parser.add_argument("--checkpoints", help="folder of shipped models (default: checkpoints/, or $DCGAN_CHECKPOINTS)")
    parser.add_argument("--runs", help="folder of training runs (default: runs/, or $DCGAN_RUNS)")
    parser.add_argument("--uploads", help="where uploaded models go (default: ~/.cache/dcgan-explorer/uploads)")
    hosting = parser.add_argument_group(
        "hosting limits", "what anonymous visitors may do; each flag's default comes from its DCGAN_* variable"
    )
    hosting.add_argument("--max-upload-mb", type=float, help="largest upload (DCGAN_MAX_UPLOAD_MB, default 100)")
    hosting.add_argument(
        "--uploads-quota-mb",
        type=float,
        help="disk for uploaded models, a quarter of it per address, oldest deleted first (default 1000)",
    )
    hosting.add_argument("--uploads-ttl-hours", type=float, help="uploaded models are deleted after (default 24)")
    hosting.add_argument("--job-max-steps", type=int, help="steps a visitor's training job may ask for (10000)")
    hosting.add_argument("--job-max-minutes", type=float, help="a training job is stopped after (default 60)")
    hosting.add_argument("--job-pause-minutes", type=float, help="a paused job is stopped after (default 10)")
    hosting.add_argument(
        "--max-model-seconds", type=float, help="CPU seconds a visitor's model may cost to show, per view (default 120)"
    )
    hosting.add_argument("--max-model-memory-mb", type=float, help="memory a visitor's model may hold (default 2048)")
    hosting.add_argument(
        "--host-token", help="lets whoever types it stop any job (DCGAN_HOST_TOKEN; default: random, printed)"
    )
    return parser.parse_args(argv)


def host_limits(args: argparse.Namespace):
    from dcgan.serve.hosting import HostLimits

    names = ("max_upload_mb", "uploads_quota_mb", "uploads_ttl_hours", "job_max_steps", "job_max_minutes")
    names += ("job_pause_minutes", "max_model_seconds", "max_model_memory_mb", "host_token")
    return HostLimits.from_env(**{name: getattr(args, name) for name in names})


def main(argv=None) -> None:
    args = parse_args(argv)
    from dcgan.ui import build_app, launch  # imported after --help: torch + gradio take ~6 s

    limits = host_limits(args)
    if not (args.host_token or os.environ.get("DCGAN_HOST_TOKEN")):
        print(f"host token for this server (Train tab, 'host'): {limits.host_token}", flush=True)
    demo = build_app(
        checkpoints_dir=args.checkpoints, runs_dir=args.runs, uploads_dir=args.uploads, models=args.model, limits=limits
    )
    if not args.share:  # Gradio's own hint says "set share=True in launch()": our users have a flag for it
        shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        print(f"* Running on local URL:  http://{shown_host}:{args.port}", flush=True)
        print("* For a public gradio.live link, start it with: python app.py --share", flush=True)
    launch(demo, server_name=args.host, server_port=args.port, share=args.share, quiet=not args.share)


if __name__ == "__main__":
    main()
