"""The service's SQLite job queue: claims, commits that only the claim holder can make, recovery after a kill."""
import multiprocessing
import re

import pytest

from dfdc.service.jobs import MAX_ATTEMPTS, JobStore, QueueFull, new_job_id


def add_jobs(store, count, max_queue=100):
    ids = [new_job_id() for _ in range(count)]
    for job_id in ids:
        store.job_dir(job_id).mkdir()
        (store.job_dir(job_id) / 'upload.mp4').write_bytes(b'video')
    store.add([(job_id, f'video {i}.mp4', 'upload.mp4', 5) for i, job_id in enumerate(ids)], max_queue)
    return ids


def test_ids_are_random_and_never_paths(tmp_path):
    store = JobStore(tmp_path)
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(re.fullmatch(r'[A-Za-z0-9_-]{22}', i) for i in ids)
    for bad in ('..', '../../etc', 'a/b', '', 'x' * 23):
        with pytest.raises(ValueError):
            store.job_dir(bad)


def test_claims_in_upload_order_and_only_the_claim_holder_commits(tmp_path):
    store = JobStore(tmp_path)
    first, second = add_jobs(store, 2)
    job = store.claim(pid=1)
    assert job.id == first and job.status == 'running' and job.attempts == 1 and job.claim
    assert store.progress(job, 'detect', 30, 90)
    assert (store.get(first).stage, store.get(first).frames) == ('detect', 30)
    # A restart puts the running job back in the queue: the old claim can no longer commit.
    assert store.recover() == (1, 0)
    assert store.get(first).status == 'queued'
    assert not store.progress(job, 'classify', 90, 90)
    assert not store.finish(job, 0.7, None, {})
    again = store.claim(pid=2)
    assert again.id == first and again.attempts == 2 and again.claim != job.claim
    assert store.finish(again, 0.25, None, {'verdict': 'real'})
    assert not store.finish(again, 0.9, None, {}), 'a job is committed once'
    done = store.get(first)
    assert (done.status, done.score, done.summary_json()) == ('done', 0.25, {'verdict': 'real'})
    assert store.claim(pid=2).id == second and store.claim(pid=2) is None
    assert store.counts() == {'queued': 0, 'running': 1, 'done': 1, 'failed': 0}


def test_queue_bound_counts_queued_and_running_and_adds_all_or_nothing(tmp_path):
    store = JobStore(tmp_path)
    add_jobs(store, 2, max_queue=3)
    store.claim(pid=1)
    with pytest.raises(QueueFull):
        add_jobs(store, 2, max_queue=3)
    assert store.active() == 2 and len(store.list()) == 2
    add_jobs(store, 1, max_queue=3)
    assert store.active() == 3


def test_recover_removes_folders_that_no_job_owns(tmp_path):
    store = JobStore(tmp_path)
    kept, = add_jobs(store, 1)
    orphan = store.job_dir(new_job_id())
    orphan.mkdir()
    (orphan / 'upload.mp4').write_bytes(b'half')
    assert store.recover() == (0, 1)
    assert not orphan.exists() and store.job_dir(kept).is_dir()


def test_a_worker_that_dies_gives_its_job_back_then_fails_it(tmp_path):
    store = JobStore(tmp_path)
    job_id, = add_jobs(store, 1)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        store.register_worker(100 + attempt, slot=0)
        job = store.claim(pid=100 + attempt)
        assert job.id == job_id and job.attempts == attempt
        assert store.release_worker(100 + attempt) == [job_id]
    failed = store.get(job_id)
    assert failed.status == 'failed' and f'died {MAX_ATTEMPTS} times' in failed.error
    assert store.workers() == []


def test_delete_forgets_the_job_and_its_folder(tmp_path):
    store = JobStore(tmp_path)
    job_id, = add_jobs(store, 1)
    job = store.claim(pid=1)
    assert store.delete(job_id) and not store.job_dir(job_id).exists()
    assert store.get(job_id) is None and not store.delete(job_id)
    assert not store.finish(job, 0.5, None, {}), 'a deleted job cannot be committed by its worker'


def _claim_all(root, out):
    store = JobStore(root)
    while (job := store.claim(pid=multiprocessing.current_process().pid)) is not None:
        out.put(job.id)
    out.put(None)


def test_concurrent_workers_never_claim_one_job_twice(tmp_path):
    store = JobStore(tmp_path)
    ids = add_jobs(store, 40)
    context = multiprocessing.get_context('spawn')
    out = context.Queue()
    workers = [context.Process(target=_claim_all, args=(tmp_path, out)) for _ in range(3)]
    for worker in workers:
        worker.start()
    claimed, finished = [], 0
    while finished < len(workers):
        item = out.get(timeout=60)
        finished += item is None
        if item is not None:
            claimed.append(item)
    for worker in workers:
        worker.join()
    assert sorted(claimed) == sorted(ids)
