"""Load test: an external party uploading to the landing bucket (design section 8.5).

Against the local stack (AWS_ENDPOINT_URL from `courier local up`'s banner) or AWS
(credentials of the external party's role; AWS_ENDPOINT_URL unset). Each user
uploads one realistic ~27 KB JSON file per second, so users = files/s:

    # baseline, 10 files/s for 10 minutes
    locust -f loadtest/locustfile.py --headless -u 10 -r 10 -t 10m
    # burst to 100 files/s (NFR-05): the shape below ramps 10 -> 100 -> 10
    COURIER_LOAD_SHAPE=burst locust -f loadtest/locustfile.py --headless -t 6m

LANDING_BUCKET overrides the bucket (default courier-landing).
"""

from __future__ import annotations

import os
import random
import time

import boto3
from locust import LoadTestShape, User, constant_throughput, events, task

from courier.local.traffic import demo_key, realistic_file

BUCKET = os.environ.get("LANDING_BUCKET", "courier-landing")


class ExternalParty(User):
    wait_time = constant_throughput(1)  # one file per second per user

    def on_start(self) -> None:
        self.s3 = boto3.session.Session().client("s3")
        self.rng = random.Random()
        self.sequence = 0

    @task
    def upload(self) -> None:
        self.sequence += 1
        key = demo_key(self.rng, self.sequence, prefix=f"load/{id(self) % 10_000}")
        body = realistic_file(self.rng)
        start = time.perf_counter()
        exception = None
        try:
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="application/json")
        except Exception as exc:  # noqa: BLE001 - reported to locust as a failure
            exception = exc
        events.request.fire(
            request_type="S3",
            name="PutObject",
            response_time=(time.perf_counter() - start) * 1000,
            response_length=len(body),
            exception=exception,
            context={},
        )


if os.environ.get("COURIER_LOAD_SHAPE") == "burst":  # locust runs any shape class it finds

    class Burst(LoadTestShape):
        """10 files/s for 2 minutes, 100 files/s for 2 minutes, 10 files/s for 2 minutes."""

        stages = [(120, 10), (240, 100), (360, 10)]

        def tick(self):
            run_time = self.get_run_time()
            for end, users in self.stages:
                if run_time < end:
                    return users, users
            return None
