use super::*;

fn job(k: u8) -> ClientJob {
    ClientJob::new(
        Hash::of(b"id"),
        Hash::of(b"spec"),
        "wasm".into(),
        100,
        k,
        Limits::default(),
        Hash::of(b"m"),
        Hash::of(b"i"),
        0,
        1_000_000,
    )
}

fn bid(price: u128) -> Bid {
    Bid {
        job_id: Hash::of(b"id"),
        price,
        eta_ms: 10,
        stake_claim: 0,
        reputation_claim_ppm: 0,
        backing: None,
        consent: None,
    }
}

fn run(job: &mut ClientJob, worker: PeerId, output: &[u8]) -> Result<(), Refusal> {
    let outcome = Outcome::Output(output.to_vec());
    job.commit(&worker, outcome.hash(), [0; 32], 1, 10)?;
    job.deliver(&worker, outcome, 11)
}

#[test]
fn a_worker_that_refused_busy_can_bid_again_and_be_assigned() {
    let mut job = job(1);
    let busy = PeerId::random();
    job.add_bid(busy, &bid(10), 1.0, 1).unwrap();
    // A second bid while the first stands changes nothing.
    job.add_bid(busy, &bid(20), 2.0, 2).unwrap();
    assert_eq!((job.bids.len(), job.bids[0].price), (1, 10));
    assert_eq!(job.select(2, 0), vec![busy]);
    job.assign_reply(&busy, false, 3);
    // Its old bid is not taken again…
    assert!(job.reserve().is_empty());
    assert!(job.select(4, 0).is_empty());
    // …but its new one is, and the new assignment is the one that counts.
    job.add_bid(busy, &bid(8), 1.0, 5).unwrap();
    assert_eq!(job.bids.len(), 1);
    assert_eq!((job.bids[0].price, job.bids[0].received_ms), (8, 5));
    assert_eq!(job.select(6, 0), vec![busy]);
    job.assign_reply(&busy, true, 7);
    assert_eq!(
        job.assignment(&busy).unwrap().state,
        AssignmentState::Accepted
    );
    run(&mut job, busy, b"out").unwrap();
    assert_eq!(job.status, JobStatus::Completed);
}

#[test]
fn the_best_bids_are_assigned_and_k_agreeing_results_complete() {
    let mut job = job(2);
    let workers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
    for (i, w) in workers.iter().enumerate() {
        job.add_bid(*w, &bid(10), i as f64, 1).unwrap();
    }
    // A bid above the reward is refused; a repeated bid is not counted twice.
    assert_eq!(
        job.add_bid(PeerId::random(), &bid(101), 9.0, 1),
        Err(Refusal::BadRequest)
    );
    job.add_bid(workers[0], &bid(10), 0.0, 1).unwrap();
    assert_eq!(job.bids.len(), 4);
    let chosen = job.select(2, 1000);
    assert_eq!(chosen, vec![workers[3], workers[2]]);
    assert_eq!(job.status, JobStatus::Running);
    // A worker that was not assigned cannot commit.
    assert_eq!(
        job.commit(&workers[0], Hash::of(b"x"), [0; 32], 1, 3),
        Err(Refusal::NotAssigned)
    );
    run(&mut job, workers[3], b"42").unwrap();
    assert_eq!(job.status, JobStatus::Running);
    run(&mut job, workers[2], b"42").unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    let result = job.result.as_ref().unwrap();
    assert_eq!(result.outcome, Outcome::Output(b"42".to_vec()));
    assert_eq!(result.agreeing.len(), 2);
    assert!(job.verification_failures.is_empty());
}

#[test]
fn a_liar_is_outvoted_by_an_extra_worker_and_recorded() {
    let mut job = job(2);
    let w: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
    for x in &w {
        job.add_bid(*x, &bid(1), 1.0, 1).unwrap();
    }
    let first = job.select(2, 1000);
    run(&mut job, first[0], b"right").unwrap();
    run(&mut job, first[1], b"wrong").unwrap();
    // Disagreement: one more worker is wanted.
    assert_eq!(job.wanted(), 1);
    let third = job.select(3, 1000);
    assert_eq!(third.len(), 1);
    run(&mut job, third[0], b"right").unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.verification_failures.len(), 1);
    let failure = &job.verification_failures[0];
    assert_eq!(failure.worker, first[1]);
    assert_eq!(failure.claimed, Some(Hash::of(b"wrong")));
    assert_eq!(failure.accepted, Some(Hash::of(b"right")));
}

// With no k agreeing results, every committed result is unconfirmed. It used to leave
// no record, so the client let those slots finalize and paid whoever lied; now each
// committed worker has a failure record, and its slot is disputed.
#[test]
fn a_job_without_agreement_records_every_committed_worker() {
    let mut job = job(2);
    let w: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
    for x in &w {
        job.add_bid(*x, &bid(1), 1.0, 1).unwrap();
    }
    let mut ran = Vec::new();
    let mut t = 2;
    while job.is_open() && job.wanted() > 0 {
        for worker in job.select(t, 1000) {
            let output = format!("answer {}", ran.len());
            run(&mut job, worker, output.as_bytes()).unwrap();
            ran.push((worker, Hash::of(output.as_bytes())));
        }
        t += 1;
    }
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(ran.len(), 4, "up to 2k workers ran");
    assert_eq!(job.verification_failures.len(), ran.len());
    for (worker, hash) in &ran {
        let failure = job
            .verification_failures
            .iter()
            .find(|f| f.worker == *worker)
            .expect("every committed worker is recorded");
        assert_eq!(failure.claimed, Some(*hash));
        assert_eq!(failure.accepted, None);
    }
    // A worker that never committed has nothing to be disputed over.
    let idle = w
        .iter()
        .find(|x| !ran.iter().any(|(r, _)| r == *x))
        .unwrap();
    assert!(job.verification_failures.iter().all(|f| f.worker != *idle));
}

#[test]
fn a_payload_that_breaks_its_commit_is_refused_and_recorded() {
    let mut job = job(1);
    let w = PeerId::random();
    job.add_bid(w, &bid(1), 1.0, 1).unwrap();
    job.select(2, 1000);
    assert_eq!(
        job.deliver(&w, Outcome::Output(b"early".to_vec()), 3),
        Err(Refusal::NoCommit)
    );
    job.commit(&w, Hash::of(b"one thing"), [0; 32], 1, 3)
        .unwrap();
    assert_eq!(
        job.deliver(&w, Outcome::Output(b"another".to_vec()), 4),
        Err(Refusal::HashMismatch)
    );
    assert_eq!(job.assignments[0].state, AssignmentState::Broken);
    assert_eq!(job.verification_failures.len(), 1);
    assert_eq!(job.wanted(), 1);
}

#[test]
fn dropped_and_late_workers_are_replaced_and_the_deadline_fails_the_job() {
    let mut job = job(2);
    let w: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
    for x in &w {
        job.add_bid(*x, &bid(1), 1.0, 1).unwrap();
    }
    let first = job.select(0, 1000);
    job.assign_reply(&first[0], true, 1);
    job.lost(&first[0], 5);
    assert_eq!(job.wanted(), 1);
    let second = job.select(6, 1000);
    assert_eq!(second.len(), 1);
    assert_ne!(second[0], first[0]);
    // first[1] was assigned at 0 with timeout 10 s + 1 s grace.
    assert!(!job.expire(10_000));
    assert!(job.expire(11_001));
    assert_eq!(
        job.assignment(&first[1]).unwrap().state,
        AssignmentState::TimedOut
    );
    assert_eq!(job.wanted(), 1);
    // A late commit from the timed-out worker is refused.
    assert_eq!(
        job.commit(&first[1], Hash::of(b"r"), [0; 32], 1, 11_002),
        Err(Refusal::Closed)
    );
    assert!(job.expire(1_000_001));
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.wanted(), 0);
    assert_eq!(
        job.add_bid(PeerId::random(), &bid(1), 1.0, 1_000_002),
        Err(Refusal::Closed)
    );
}

#[test]
fn deterministic_failures_are_results_too() {
    let mut job = job(2);
    let w: Vec<PeerId> = (0..2).map(|_| PeerId::random()).collect();
    for x in &w {
        job.add_bid(*x, &bid(1), 1.0, 1).unwrap();
    }
    job.select(0, 1000);
    for x in &w {
        let outcome = Outcome::Error("ran out of fuel".into());
        job.commit(x, outcome.hash(), [0; 32], 5, 1).unwrap();
        job.deliver(x, outcome, 2).unwrap();
    }
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(
        job.result.unwrap().outcome,
        Outcome::Error("ran out of fuel".into())
    );
}
