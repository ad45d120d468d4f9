"""Run the webhook sensor outside st2, as the st2 sensor wrapper would.

    python tests/lib/run_sensor.py --config cfg.yaml [--sink out.jsonl]
        [--eventlet] [--fail-first N] [--dispatch-delay-ms MS]

It loads the sensor class from its file, calls setup() then run(), and on
SIGTERM/SIGINT lets the sensor drain and calls cleanup(), like st2. Each
dispatched trigger is printed as one JSON line (stdout by default).
"""

import argparse
import importlib.util
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="pack config (YAML)")
    parser.add_argument("--sink", default="-", help="file for trigger JSON lines; - = stdout")
    parser.add_argument("--eventlet", action="store_true", help="monkey-patch like st2 does")
    parser.add_argument("--fail-first", type=int, default=0, help="fail this many dispatches")
    parser.add_argument("--dispatch-delay-ms", type=float, default=0.0)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()

    if args.eventlet:
        import eventlet

        eventlet.monkey_patch(os=True, select=True, socket=True, thread=True, time=True)

    import yaml
    from pack_paths import SENSOR_FILE, use_pack_paths

    use_pack_paths()
    from local_sensor_service import LocalSensorService

    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with open(args.config) as fp:
        config = yaml.safe_load(fp) or {}
    sink = sys.stdout if args.sink == "-" else open(args.sink, "a", buffering=1)
    service = LocalSensorService(
        sink, dispatch_delay=args.dispatch_delay_ms / 1000.0, fail_first=args.fail_first
    )
    spec = importlib.util.spec_from_file_location("alertmanager_webhook_sensor", SENSOR_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sensor = module.AlertmanagerWebhookSensor(sensor_service=service, config=config)
    sensor.setup()
    try:
        sensor.run()  # installs its own SIGTERM handler, returns after draining
    except KeyboardInterrupt:
        pass
    finally:
        sensor.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
