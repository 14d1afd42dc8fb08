# The archive (REQ-05, NFR-03/09): the authoritative record of every bundle.
# The aggregator writes, and reads a bundle back only to resend it byte for byte; it can
# never delete. Operators read and restore through a separate role.

resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_144:Cross-region replication is a business decision (cost vs. regional DR); enable it in the environment if required.
  # checkov:skip=CKV_AWS_145:SSE with AWS-managed keys, as the design's section 5.1 specifies.
  # checkov:skip=CKV_AWS_18:Access logging is provided by CloudTrail data events at account level, outside this module.
  # checkov:skip=CKV2_AWS_62:Nothing consumes archive events; bundles are delivered by the aggregator itself.
  bucket = var.name
  tags   = var.tags
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  # Since September 2024 S3 keeps objects under 128 KB out of every lifecycle transition by
  # default (all_storage_classes_128K), so a small bundle (a quiet hour, a partial batch) would
  # stay in Standard for ever while the design says every bundle goes to Deep Archive.
  # varies_by_storage_class lets objects under 128 KB move to the Glacier classes (and only
  # those). The trade-off, per small bundle: one transition request (about $0.05 per 1,000) and
  # Deep Archive's 40 KB of per-object overhead (32 KB at the Deep Archive rate, 8 KB at
  # Standard's), so a bundle of a few KB costs slightly more in Deep Archive than in Standard,
  # and one of 100 KB pays its transition back in about two years. They are few (a 20-s window at 10 files/s fills bundles of about 2 MB), and one storage
  # class for all bundles keeps one restore procedure for replay; the index (index/) is not
  # transitioned at all.
  transition_default_minimum_object_size = "varies_by_storage_class"

  # A bundle stays readable until NiFi acknowledged it: a retry resends the archived bytes,
  # and a restore from Deep Archive takes up to 48 hours. Delivered bundles (tagged by the
  # aggregator) move after deep_archive_after_days; the rest only once no message can name
  # them any more (queue + DLQ retention, 18 days).
  rule {
    id     = "delivered-bundles-to-deep-archive"
    status = "Enabled"

    filter {
      and {
        prefix = "${var.bundle_prefix}/"
        tags   = { courier-delivered = "true" }
      }
    }

    transition {
      days          = var.deep_archive_after_days
      storage_class = "DEEP_ARCHIVE"
    }

    noncurrent_version_transition {
      noncurrent_days = var.deep_archive_after_days
      storage_class   = "DEEP_ARCHIVE"
    }
  }

  rule {
    id     = "undelivered-bundles-to-deep-archive"
    status = "Enabled"

    filter {
      prefix = "${var.bundle_prefix}/"
    }

    transition {
      days          = max(var.deep_archive_after_days, var.undelivered_transition_days)
      storage_class = "DEEP_ARCHIVE"
    }

    noncurrent_version_transition {
      noncurrent_days = max(var.deep_archive_after_days, var.undelivered_transition_days)
      storage_class   = "DEEP_ARCHIVE"
    }
  }

  # The breaker controller's canaries: written as a bundle would be, worthless a day later.
  rule {
    id     = "expire-probes"
    status = "Enabled"

    filter {
      prefix = "probes/"
    }

    expiration {
      days = 1
    }

    # The bucket is versioned: the expiration above only adds a delete marker, and the probe
    # itself would stay as a noncurrent version for ever. This deletes it a day later.
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

module "tls" {
  source = "../s3_tls_policy"

  bucket_arn = aws_s3_bucket.this.arn
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = [module.tls.json]

  # The writer puts bundles and their index lines, nothing else, nowhere else. A bundle is
  # write-once: its write (PutObject, CompleteMultipartUpload) must carry If-None-Match, so an
  # archived bundle is never overwritten; the multipart steps that take no such header
  # (CreateMultipartUpload, UploadPart: s3:ObjectCreationOperation false) are let through, as
  # AWS documents for enforcing conditional writes. The two Allows grant nothing the writer's own
  # role could not grant in this account: the Deny is what keeps a bundle write-once whatever
  # that role is given later. It needs both its conditions (a bundle write without the header),
  # so the multipart steps still pass.
  dynamic "statement" {
    # Each statement's sid, effect and conditions (all of them must hold).
    for_each = {
      WriterMayOnlyPutNewBundles   = { effect = "Allow", conditions = { Null = ["s3:if-none-match", "false"] } }
      WriterMayUploadBundleParts   = { effect = "Allow", conditions = { Bool = ["s3:ObjectCreationOperation", "false"] } }
      WriterMayNotOverwriteBundles = { effect = "Deny", conditions = { Null = ["s3:if-none-match", "true"], Bool = ["s3:ObjectCreationOperation", "true"] } }
    }

    content {
      sid       = statement.key
      effect    = statement.value.effect
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/${var.bundle_prefix}/*"]

      principals {
        type        = "AWS"
        identifiers = var.writer_role_arns
      }

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.key
          variable = condition.value[0]
          values   = [condition.value[1]]
        }
      }
    }
  }

  statement {
    sid     = "WriterMayOnlyPut"
    effect  = "Allow"
    actions = ["s3:PutObjectTagging"]
    resources = [
      "${aws_s3_bucket.this.arn}/${var.bundle_prefix}/*",
      "${aws_s3_bucket.this.arn}/${var.index_prefix}/*",
    ]

    principals {
      type        = "AWS"
      identifiers = var.writer_role_arns
    }
  }

  statement {
    sid       = "WriterMayPutIndexLines"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this.arn}/${var.index_prefix}/*"]

    principals {
      type        = "AWS"
      identifiers = var.writer_role_arns
    }
  }

  # ... and whatever its own role were given later, it cannot put outside those two prefixes.
  statement {
    sid     = "WriterMayNotPutElsewhere"
    effect  = "Deny"
    actions = ["s3:PutObject", "s3:PutObjectTagging"]
    not_resources = [
      "${aws_s3_bucket.this.arn}/${var.bundle_prefix}/*",
      "${aws_s3_bucket.this.arn}/${var.index_prefix}/*",
    ]

    principals {
      type        = "AWS"
      identifiers = var.writer_role_arns
    }
  }

  statement {
    sid       = "WriterMayReadBundlesToResend"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this.arn}/${var.bundle_prefix}/*"]

    principals {
      type        = "AWS"
      identifiers = var.writer_role_arns
    }
  }

  statement {
    sid    = "WriterMayNotDeleteOrReadVersions"
    effect = "Deny"
    actions = [
      "s3:GetObjectVersion",
      "s3:DeleteObject",
      "s3:DeleteObjectVersion",
      "s3:PutLifecycleConfiguration",
      "s3:PutBucketPolicy",
    ]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "AWS"
      identifiers = var.writer_role_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.replay_role_arns) > 0 ? [1] : []

    content {
      sid    = "ReplayMayReadAndRestore"
      effect = "Allow"
      actions = [
        "s3:GetObject",
        "s3:GetObjectAttributes",
        "s3:GetObjectTagging",
        "s3:RestoreObject",
        "s3:ListBucket",
      ]
      resources = [
        aws_s3_bucket.this.arn,
        "${aws_s3_bucket.this.arn}/*",
      ]

      principals {
        type        = "AWS"
        identifiers = var.replay_role_arns
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
