#!/usr/bin/env python3
"""Latency of KMS calls (GenerateDataKey, Decrypt, DescribeKey) through the KMS API, one call
at a time, against one or more endpoints in alternating rounds, so that two builds are
compared in one sitting (the audit trail's cost per call shows as the difference).

Usage: kms-latency.py ACCESS_KEY SECRET_KEY ENDPOINT [ENDPOINT...]   (needs botocore)
"""
import statistics
import sys
import time

import botocore.session

ROUNDS, CALLS = 4, 300


def client(endpoint, access, secret):
    return botocore.session.get_session().create_client(
        "kms", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=access, aws_secret_access_key=secret)


def main():
    access, secret, endpoints = sys.argv[1], sys.argv[2], sys.argv[3:]
    clients = [client(e, access, secret) for e in endpoints]
    keys = [c.create_key(Description="latency")["KeyMetadata"]["KeyId"] for c in clients]
    times = {(e, op): [] for e in endpoints for op in ("GenerateDataKey", "Decrypt", "DescribeKey")}
    for _ in range(ROUNDS):
        for e, c, k in zip(endpoints, clients, keys):
            blob = c.generate_data_key(KeyId=k, KeySpec="AES_256")["CiphertextBlob"]
            for _ in range(CALLS):
                t = time.perf_counter()
                c.generate_data_key(KeyId=k, KeySpec="AES_256")
                times[(e, "GenerateDataKey")].append(time.perf_counter() - t)
                t = time.perf_counter()
                c.decrypt(CiphertextBlob=blob)
                times[(e, "Decrypt")].append(time.perf_counter() - t)
                t = time.perf_counter()
                c.describe_key(KeyId=k)
                times[(e, "DescribeKey")].append(time.perf_counter() - t)
    for (e, op), ts in times.items():
        ts.sort()
        print(f"{e} {op:16} p50 {statistics.median(ts) * 1e3:.3f} ms  "
              f"p90 {ts[int(len(ts) * 0.9)] * 1e3:.3f} ms  n={len(ts)}")


if __name__ == "__main__":
    main()
