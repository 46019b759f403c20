"""boto3 side of the S3 path tests (tests/aws_s3.rs): an independent client
that sets up moto's S3 and SQS, uploads as Transfer Family would, and reads
back what the daemons wrote.

Usage: python3 tests/py/s3_admin.py ENDPOINT COMMAND ARGS...
  setup BUCKET QUEUE DLQ MAX_RECEIVE VISIBILITY_SECS PREFIX...   bucket, queues
        (the queue's redrive policy names the DLQ) and one notification
        configuration per incoming/ PREFIX
  bucket BUCKET                   only the bucket
  notify-off BUCKET               remove the bucket's notification configuration
  put BUCKET KEY FILE             upload one object
  put-dir BUCKET PREFIX DIR       upload every file of DIR as PREFIX + name
                                  (eight at a time)
  keys BUCKET PREFIX              every key under PREFIX, one a line
  get BUCKET KEY                  an object's bytes on stdout
  send QUEUE BODY                 send a raw message
  drain QUEUE                     receive every visible message, print bodies
                                  as JSON lines (leaves them in the queue)
  notification BUCKET             the notification configuration as JSON
  queue-attrs QUEUE               the queue's attributes as JSON
"""

import concurrent.futures
import json
import os
import sys

import boto3


def main():
    endpoint, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")

    def queue_url(name):
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]

    def queue_arn(url):
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return attrs["Attributes"]["QueueArn"]

    if cmd == "bucket":
        s3.create_bucket(Bucket=args[0])
    elif cmd == "setup":
        bucket, queue, dlq, max_receive, visibility, prefixes = (
            args[0], args[1], args[2], args[3], args[4], args[5:])
        s3.create_bucket(Bucket=bucket)
        dlq_url = sqs.create_queue(QueueName=dlq)["QueueUrl"]
        redrive = {"deadLetterTargetArn": queue_arn(dlq_url), "maxReceiveCount": max_receive}
        url = sqs.create_queue(
            QueueName=queue,
            Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": visibility},
        )["QueueUrl"]
        arn = queue_arn(url)
        configs = [
            {
                "Id": f"test-{i}",
                "QueueArn": arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": p}]}},
            }
            for i, p in enumerate(prefixes)
        ]
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs})
        # The s3:TestEvent moto sends is left in the queue on purpose: the
        # daemon must take it in its stride.
    elif cmd == "notify-off":
        s3.put_bucket_notification_configuration(
            Bucket=args[0], NotificationConfiguration={})
    elif cmd == "put":
        with open(args[2], "rb") as f:
            s3.put_object(Bucket=args[0], Key=args[1], Body=f.read())
    elif cmd == "put-dir":
        bucket, prefix, d = args

        def put(name):
            with open(os.path.join(d, name), "rb") as f:
                s3.put_object(Bucket=bucket, Key=prefix + name, Body=f.read())

        # Eight uploaders at once, like several Transfer sessions.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(put, sorted(os.listdir(d))))
    elif cmd == "keys":
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=args[0], Prefix=args[1]):
            for o in page.get("Contents", []):
                print(o["Key"])
    elif cmd == "get":
        body = s3.get_object(Bucket=args[0], Key=args[1])["Body"].read()
        sys.stdout.buffer.write(body)
    elif cmd == "send":
        sqs.send_message(QueueUrl=queue_url(args[0]), MessageBody=args[1])
    elif cmd == "drain":
        url = queue_url(args[0])
        while True:
            r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                    WaitTimeSeconds=0, VisibilityTimeout=30)
            msgs = r.get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                print(json.dumps(m["Body"]))
    elif cmd == "notification":
        c = s3.get_bucket_notification_configuration(Bucket=args[0])
        c.pop("ResponseMetadata", None)
        print(json.dumps(c))
    elif cmd == "queue-attrs":
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url(args[0]), AttributeNames=["All"])
        print(json.dumps(attrs["Attributes"]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
