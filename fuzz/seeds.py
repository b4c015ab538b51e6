#!/usr/bin/env python3
"""Writes the hand-made seeds of every fuzz target into corpus/<target>/seed-*: well-formed
inputs that take each target past its first checks. What the fuzzer found beyond them is kept
beside them (minimised with `cargo fuzz cmin`). Run from anywhere; rewrites only seed-* files."""
import base64
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


# segment_open: control byte, then a blob (header-sized, one segment, garbage).
write("segment_open", "header-only", b"\x00" + b"\x00" * 16)
write("segment_open", "one-segment", b"\x03" + bytes(range(256)) * 2)
# segment_tamper: plaintext length byte (x257), plaintext, 3-byte edits.
write("segment_tamper", "intact", b"\x01" + b"a" * 257)
write("segment_tamper", "one-flip", b"\x01" + b"a" * 257 + b"\x00\x05\x01")
write("segment_tamper", "truncated", b"\x00" + b"\x00\x00")

# policy: document NUL principal NUL action NUL resource (NUL key NUL value)*.
KEY = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALICE = "arn:aws:iam::000000000000:user/alice"
policies = {
    "default-key": {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "kms:*", "Resource": "*"}]},
    "deny-unencrypted": {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*",
        "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}}]},
    "context-variables": {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::000000000000:user/*"]},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "NotResource": "arn:aws:s3:::${aws:username}/*",
        "Condition": {"StringLike": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::${aws:username, 'x'}/*"},
                      "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["a", "b"]},
                      "IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]},
                      "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                      "NumericLessThanEquals": {"s3:max-keys": "10"},
                      "Bool": {"aws:SecureTransport": "false"}}}]},
    "not-principal": {"Version": "2008-10-17", "Statement": {
        "Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "NotAction": "kms:Describe*",
        "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/b?b"},
                      "StringNotEqualsIgnoreCase": {"aws:PrincipalTag/team": "Blue"},
                      "BinaryEquals": {"kms:CallerAccount": "AAAA"}}}},
}
request = b"\x00" + ALICE.encode() + b"\x00kms:Decrypt\x00" + KEY.encode() + \
    b"\x00kms:EncryptionContext:aws:s3:arn\x00arn:aws:s3:::alice/x\x00aws:SourceIp\x00127.0.0.1"
for name, doc in policies.items():
    write("policy", name, json.dumps(doc).encode() + request)
tests = open(os.path.join(HERE, "../crates/coffer-kms/src/policy/tests.rs")).read()
for i, doc in enumerate(d for d in re.findall(r'r#"(\{.*?\})"#', tests) if '"Statement"' in d):
    if i < 24:
        write("policy", f"unit-test-{i:02}", doc.encode() + request)

# kms_api: Operation NEWLINE body. The fixture's key is alias/fuzz.
kms = {
    "create-key": ("CreateKey", {"Description": "seed", "KeyUsage": "ENCRYPT_DECRYPT", "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
    "describe": ("DescribeKey", {"KeyId": "alias/fuzz"}),
    "encrypt": ("Encrypt", {"KeyId": "alias/fuzz", "Plaintext": base64.b64encode(b"hello").decode(), "EncryptionContext": {"aws:s3:arn": "arn:aws:s3:::b/k"}}),
    "decrypt": ("Decrypt", {"CiphertextBlob": base64.b64encode(b"\x01" + b"\x00" * 80).decode(), "EncryptionContext": {"a": "b"}}),
    "re-encrypt": ("ReEncrypt", {"CiphertextBlob": "AQID", "DestinationKeyId": "alias/fuzz"}),
    "data-key": ("GenerateDataKey", {"KeyId": "alias/fuzz", "KeySpec": "AES_256", "EncryptionContext": {"k": "v"}}),
    "data-key-bytes": ("GenerateDataKeyWithoutPlaintext", {"KeyId": "alias/fuzz", "NumberOfBytes": 32}),
    "list-keys": ("ListKeys", {"Limit": 2}),
    "list-aliases": ("ListAliases", {"KeyId": "alias/fuzz", "Marker": "x"}),
    "policy": ("PutKeyPolicy", {"KeyId": "alias/fuzz", "PolicyName": "default", "Policy": json.dumps(policies["default-key"])}),
    "rotation": ("EnableKeyRotation", {"KeyId": "alias/fuzz", "RotationPeriodInDays": 90}),
    "alias": ("UpdateAlias", {"AliasName": "alias/fuzz", "TargetKeyId": "alias/fuzz"}),
}
for name, (op, body) in kms.items():
    write("kms_api", name, op + "\n" + json.dumps(body))
write("kms_api", "unknown-op", "Frobnicate\n{}")
write("kms_api", "not-json", "Encrypt\n[1,2")

# lookup_events: a LookupEvents body.
for name, body in {
    "by-event": {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Decrypt"}], "MaxResults": 2},
    "by-user": {"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "alice"}], "StartTime": 0, "EndTime": 4102444800},
    "paged": {"MaxResults": 1, "NextToken": "1"},
    "read-only": {"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "true"}]},
}.items():
    write("lookup_events", name, json.dumps(body))

# audit_trail: control (file index << 1 | replace), then edits or the replacement.
for i in range(12):
    write("audit_trail", f"edit-file-{i:02}", bytes([i << 1, 0, 10, 1]))
write("audit_trail", "replace-journal", bytes([1]) + b'{"eventTime":"2026-01-01T00:00:00Z"}\n')

# s3_xml: kind byte (0/1 bucket encryption, 2 UpdateObjectEncryption, 3-7 s3s bodies).
NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
xml = {
    "sse-s3": (0, f'<ServerSideEncryptionConfiguration{NS}><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled><BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes></Rule></ServerSideEncryptionConfiguration>'),
    "sse-kms": (1, '<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>alias/a&amp;b</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>'),
    "object-encryption": (2, f'<ObjectEncryption{NS}><SSE-KMS><KMSKeyArn>arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab</KMSKeyArn><BucketKeyEnabled>true</BucketKeyEnabled></SSE-KMS></ObjectEncryption>'),
    "complete-multipart": (3, f'<CompleteMultipartUpload{NS}><Part><PartNumber>1</PartNumber><ETag>"abc"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part><Part><PartNumber>2</PartNumber><ETag>"def"</ETag></Part></CompleteMultipartUpload>'),
    "delete-objects": (4, '<Delete><Object><Key>a&lt;b</Key><VersionId>null</VersionId></Object><Quiet>true</Quiet></Delete>'),
    "tagging": (5, '<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>'),
    "create-bucket": (6, '<?xml version="1.0" encoding="UTF-8"?><CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>'),
    "s3s-encryption": (7, '<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>'),
}
for name, (kind, body) in xml.items():
    write("s3_xml", name, bytes([kind]) + body.encode())

# sigv4: control byte; odd = signed (path NUL target NUL header NUL value NUL body),
# even = junk (path line, then header lines; NOW and TODAY become the current time and date).
for change in range(6):
    write("sigv4", f"signed-change-{change}", bytes([change << 1 | 1]) +
          b"?a=1&b=%2F\x00TrentService.Encrypt\x00x-amz-user-agent\x00seed\x00" + b'{"KeyId":"alias/a"}')
write("sigv4", "junk-almost", b"\x00/\nhost: 127.0.0.1:9000\nx-amz-date: NOW\nx-amz-target: TrentService.ListKeys\n"
      b"authorization: AWS4-HMAC-SHA256 Credential=AKIAFUZZ000000000001/TODAY/us-east-1/kms/aws4_request, "
      b"SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + b"0" * 64 + b"\n")
write("sigv4", "junk-unknown-user", b"\x00/\nx-amz-date: NOW\nauthorization: AWS4-HMAC-SHA256 "
      b"Credential=AKIANOBODY/TODAY/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00\n")
