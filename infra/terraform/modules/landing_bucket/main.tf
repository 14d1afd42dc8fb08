# The landing zone (REQ-01): the external party may only put objects, from its
# known source ranges, over TLS 1.2+. Objects live 7 days (NFR-03).

resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_144:Cross-region replication is not required: files are transient (7 days) and every delivered file lives on in the archive.
  # checkov:skip=CKV_AWS_145:SSE with AWS-managed keys, as the design's section 5.1 specifies.
  # checkov:skip=CKV_AWS_18:Access logging of the landing zone is provided by CloudTrail data events at account level, outside this module.
  # checkov:skip=CKV2_AWS_62:Event notifications are configured (aws_s3_bucket_notification.this); the check does not follow the separate resource.
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

# Objects belong to the bucket whoever uploads them: no ACL of an uploader's can keep the aggregator out.
resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Nothing landed is deleted before it was delivered, and no file pays a write for it: the
# bucket is versioned and the aggregator reads the version its event names, so the week's
# expiration (NFR-03) only hides the current version behind a delete marker; a version is
# deleted once noncurrent for noncurrent_expiration_days, beyond the queue's and the DLQ's
# retention (src/courier/resources.py has the same rule).
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "hide-after-a-week-delete-when-no-message-can-name-it"
    status = "Enabled"

    filter {
      prefix = ""
    }

    expiration {
      days = var.expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

# One notification path: straight to the queue, to an SNS topic the queue subscribes to, or to EventBridge.
resource "aws_s3_bucket_notification" "this" {
  bucket      = aws_s3_bucket.this.id
  eventbridge = var.eventbridge

  dynamic "queue" {
    for_each = var.sns_topic_arn == null && !var.eventbridge ? [var.queue_arn] : []

    content {
      queue_arn = queue.value
      events    = ["s3:ObjectCreated:*"]
    }
  }

  dynamic "topic" {
    for_each = var.sns_topic_arn == null ? [] : [var.sns_topic_arn]

    content {
      topic_arn = topic.value
      events    = ["s3:ObjectCreated:*"]
    }
  }

  lifecycle {
    # A precondition, not a validation: Terraform < 1.9 cannot compare two variables in one.
    precondition {
      condition     = !(var.eventbridge && var.sns_topic_arn != null)
      error_message = "Notify through SNS or through EventBridge, not both."
    }
  }
}

module "tls" {
  source = "../s3_tls_policy"

  bucket_arn = aws_s3_bucket.this.arn
}

locals {
  # Headers an upload may leave out, or set only to these values (none: not at all). Statements below.
  put_only = {
    PutOnlyStandardStorageClass = { header = "s3:x-amz-storage-class", allowed = ["STANDARD"] }
    NoCustomerProvidedKeys      = { header = "s3:x-amz-server-side-encryption-customer-algorithm", allowed = [] }
    OnlyTheBucketsEncryption    = { header = "s3:x-amz-server-side-encryption", allowed = ["AES256"] }
  }
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = [module.tls.json]

  statement {
    sid       = "UploaderMayOnlyPut"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this.arn}/*"]

    principals {
      type        = "AWS"
      identifiers = var.uploader_principal_arns
    }

    condition {
      test     = "IpAddress"
      variable = "aws:SourceIp"
      values   = var.uploader_source_cidrs
    }
  }

  statement {
    sid       = "UploaderPutOnlyFromItsRanges"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this.arn}/*"]

    principals {
      type        = "AWS"
      identifiers = var.uploader_principal_arns
    }

    condition {
      test     = "NotIpAddress"
      variable = "aws:SourceIp"
      values   = var.uploader_source_cidrs
    }
  }

  statement {
    sid    = "UploaderMayNotReadListOrDelete"
    effect = "Deny"
    actions = [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:GetObjectAttributes",
      "s3:ListBucket",
      "s3:ListBucketVersions",
      "s3:DeleteObject",
      "s3:DeleteObjectVersion",
      "s3:PutObjectAcl",
      # Its own tag "courier-delivered" would make `courier backfill` skip its undelivered file
      # (PutObject's x-amz-tagging needs s3:PutObjectTagging too).
      "s3:PutObjectTagging",
      "s3:PutObjectVersionTagging",
      "s3:PutBucketPolicy",
    ]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "AWS"
      identifiers = var.uploader_principal_arns
    }
  }

  # The bucket refuses what the aggregator could not read back at once (src/courier/resources.py,
  # landing_put_guard, declares the same statements for the local stack): a cold storage class, a
  # customer-provided key (SSE-C), an SSE-KMS key (the bucket has none of its own; it encrypts with
  # SSE-S3). A header left out is allowed: each denies only a header that is present and names something
  # else. S3's BlockedEncryptionTypes would block SSE-C too, but AWS provider 5.100.0 has no argument for it.
  dynamic "statement" {
    for_each = local.put_only

    content {
      sid       = statement.key
      effect    = "Deny"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      dynamic "condition" {
        for_each = length(statement.value.allowed) > 0 ? [statement.value.allowed] : []

        content {
          test     = "StringNotEquals"
          variable = statement.value.header
          values   = condition.value
        }
      }

      condition {
        test     = "Null"
        variable = statement.value.header
        values   = ["false"]
      }
    }
  }

  statement {
    sid       = "AggregatorMayRead"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.this.arn}/*"]

    principals {
      type        = "AWS"
      identifiers = var.reader_role_arns
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
