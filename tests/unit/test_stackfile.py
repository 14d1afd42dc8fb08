"""The stack file: what `courier local up` writes is what the operator commands read."""

from courier.stackfile import STACK_FILE, StackInfo, read_stack_file, write_stack_file


def test_stack_file_round_trips(tmp_path):
    info = StackInfo(
        pid=42,
        started_at=1.5,
        aws_endpoint="http://127.0.0.1:4566",
        nifi_url="https://127.0.0.1:8443/contentListener",
        admin_url="https://127.0.0.1:8443",
        ca_bundle=str(tmp_path / "ca.pem"),
        mapping_uuid="uuid",
        resources={"archive_bucket": "courier-archive", "queue_url": "http://q"},
    )
    assert write_stack_file(tmp_path, info) == tmp_path / STACK_FILE
    assert read_stack_file(tmp_path) == info


def test_no_stack_or_an_unreadable_file_is_no_stack(tmp_path):
    assert read_stack_file(tmp_path) is None
    (tmp_path / STACK_FILE).write_text("{not json")
    assert read_stack_file(tmp_path) is None
    (tmp_path / STACK_FILE).write_text('{"pid": 1}')
    assert read_stack_file(tmp_path) is None
