use super::*;

const NOTHING: Committed = Committed {
    commitment: Felt::ZERO,
    worker: Felt::ZERO,
};

#[test]
fn a_worker_offers_its_free_stake_up_to_its_own_cap() {
    assert_eq!(offered_collateral(500, None), 500);
    assert_eq!(offered_collateral(500, Some(20)), 20);
    // The cap never offers stake the worker does not have free.
    assert_eq!(offered_collateral(10, Some(20)), 10);
    assert_eq!(offered_collateral(500, Some(0)), 0);
}

#[test]
fn a_slot_is_accepted_only_for_the_agreed_hash_and_disputed_otherwise() {
    let agreed = Hash::of(b"agreed");
    let salt = [7u8; 32];
    let worker = Felt::from(0xaaa_u32);
    let opening = opening_of(&agreed, &salt);
    let honest = Committed {
        commitment: opening.commitment(worker),
        worker,
    };
    let wrong = Committed {
        commitment: Felt::from(99u8),
        worker,
    };
    let evidence = Hash::of(b"failure record");
    let step = |committed, verdict: &Verdict, expected| {
        slot_step(
            JobState::Submitted,
            false,
            committed,
            verdict,
            expected,
            Some(Felt::ONE),
        )
    };
    let agreeing = Verdict::Agreed {
        result: agreed,
        salt,
    };
    assert_eq!(
        step(honest, &agreeing, Some(agreed)),
        SlotStep::Send("JobEscrow.accept", Action::Accept)
    );
    // A commitment to something else, or one the salt the worker sent does not open:
    // disputed, naming the agreed result.
    assert_eq!(
        step(wrong, &agreeing, Some(agreed)),
        SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&agreed)))
    );
    let other_salt = Verdict::Agreed {
        result: agreed,
        salt: [8u8; 32],
    };
    assert_eq!(
        step(honest, &other_salt, Some(agreed)),
        SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&agreed)))
    );
    assert_eq!(
        step(wrong, &Verdict::Wrong { evidence }, Some(agreed)),
        SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&evidence)))
    );
}

// A lazy worker that delivered nothing copied an honest worker's commitment (or,
// before commitments, its plain hash). It used to be accepted because the hash on
// chain was the agreed one; now only a worker whose own result agreed is paid.
#[test]
fn a_copied_commitment_is_disputed_not_accepted() {
    let agreed = Hash::of(b"agreed");
    let salt = [7u8; 32];
    let honest_worker = Felt::from(0xaaa_u32);
    let copied = opening_of(&agreed, &salt).commitment(honest_worker);
    let lazy = Committed {
        commitment: copied,
        worker: Felt::from(0xbbb_u32),
    };
    let no_result = Felt::from(3u8);
    // It delivered nothing.
    assert_eq!(
        slot_step(
            JobState::Submitted,
            false,
            lazy,
            &Verdict::NoResult,
            Some(agreed),
            Some(no_result),
        ),
        SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&agreed)))
    );
    // It even replayed the honest worker's result and salt off chain: the commitment
    // names the honest worker, so it does not open for the copier.
    assert_eq!(
        slot_step(
            JobState::Submitted,
            false,
            lazy,
            &Verdict::Agreed {
                result: agreed,
                salt
            },
            Some(agreed),
            Some(no_result),
        ),
        SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&agreed)))
    );
}

// No k workers agreed. Such a slot used to be left to finalize after the window, which
// paid whatever hash the worker had put on chain, a liar's included. Now every
// submitted slot is disputed: with its failure record, or a record of no result.
#[test]
fn without_agreement_every_submitted_slot_is_disputed() {
    let evidence = Hash::of(b"failure record");
    let no_result = Felt::from(7u8);
    let step = |verdict: &Verdict, unconfirmed| {
        slot_step(
            JobState::Submitted,
            false,
            NOTHING,
            verdict,
            None,
            unconfirmed,
        )
    };
    assert_eq!(
        step(&Verdict::Wrong { evidence }, Some(no_result)),
        SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&evidence)))
    );
    assert_eq!(
        step(&Verdict::NoResult, Some(no_result)),
        SlotStep::Send("JobEscrow.dispute", Action::Dispute(no_result))
    );
    // A slot recovered after a restart has no job record to name: it is left.
    assert_eq!(
        step(&Verdict::NoResult, None),
        SlotStep::Done(SlotState::Submitted)
    );
}

#[test]
fn open_slots_are_cancelled_and_missed_deadlines_claimed() {
    let v = Verdict::NoResult;
    assert_eq!(
        slot_step(JobState::Open, false, NOTHING, &v, None, None),
        SlotStep::Send("JobEscrow.cancel", Action::Cancel)
    );
    assert_eq!(
        slot_step(JobState::Assigned, false, NOTHING, &v, None, None),
        SlotStep::Wait
    );
    assert_eq!(
        slot_step(JobState::Assigned, true, NOTHING, &v, None, None),
        SlotStep::Send("JobEscrow.claim_timeout", Action::Timeout)
    );
    for (state, ended) in [
        (JobState::Disputed, SlotState::Disputed),
        (JobState::Completed, SlotState::Completed),
        (JobState::Refunded, SlotState::Refunded),
        (JobState::Cancelled, SlotState::Cancelled),
    ] {
        assert_eq!(
            slot_step(state, true, NOTHING, &v, None, None),
            SlotStep::Done(ended)
        );
        assert_eq!(ended, ended.as_str());
    }
}

#[test]
fn the_no_result_evidence_is_the_record_an_arbitrator_rebuilds() {
    let job = Hash::of(b"job");
    let worker = PeerId::random();
    let record = crate::job::VerificationFailure {
        worker,
        claimed: None,
        accepted: None,
        reason: "anything".into(),
        at_ms: 12,
    };
    assert_eq!(
        no_agreement_evidence(&job, worker),
        felt_of(&record.evidence_hash(&job))
    );
    assert_ne!(
        no_agreement_evidence(&job, worker),
        no_agreement_evidence(&job, PeerId::random())
    );
}

#[test]
fn felts_of_hashes_are_in_the_field_and_distinct() {
    let a = felt_of(&Hash([0xff; 32]));
    assert!(a < Felt::MAX);
    assert_ne!(felt_of(&Hash::of(b"a")), felt_of(&Hash::of(b"b")));
}

#[test]
fn a_binding_names_one_peer_on_one_chain() {
    let peer = PeerId::random();
    let other = PeerId::random();
    let chain = Felt::from(1u8);
    let account = Felt::from(7u8);
    let h = binding_hash(chain, account, &peer);
    assert_ne!(h, binding_hash(chain, account, &other));
    assert_ne!(h, binding_hash(Felt::from(2u8), account, &peer));
    assert_ne!(h, binding_hash(chain, Felt::from(8u8), &peer));

    let key = Felt::from(12345u32);
    let backing = sign_backing(chain, account, key, &peer).unwrap();
    let public = SigningKey::from_secret_scalar(key).verifying_key();
    let (r, s) = (
        Felt::from_bytes_be(&backing.signature[0]),
        Felt::from_bytes_be(&backing.signature[1]),
    );
    let sig = starknet::core::crypto::Signature { r, s };
    assert!(public.verify(&h, &sig).unwrap());
    assert!(!public
        .verify(&binding_hash(chain, account, &other), &sig)
        .unwrap());
}

#[test]
fn a_consent_is_the_signed_bid_a_client_sends_to_the_escrow() {
    let key = Felt::from(4242u32);
    let chain_id = cairo_short_string_to_felt("SN_SEPOLIA").unwrap();
    let bidder = Bidder {
        chain_id,
        escrow: Felt::from(0xe5cu32),
        account: Felt::from(0xacc0u32),
        key: SigningKey::from_secret_scalar(key),
    };
    let job = Hash::of(b"job");
    let consent = bidder
        .consent(&job, 7, 500, 1_000_000_500, 1_000_000)
        .unwrap();
    // Due on chain a margin after the job's own deadline (in whole seconds).
    assert_eq!(consent.deadline, 1_000_000 + CONSENT_MARGIN_SECS);
    assert_eq!(consent.expiry, 1_000_000 + CONSENT_TTL_SECS);
    assert_eq!((consent.price, consent.collateral), (7, 500));

    let signed = signed_bid(&job, bidder.account, &consent);
    assert_eq!(signed.bid.spec_hash, felt_of(&job));
    let hash = signed
        .bid
        .hash(chain_id, bidder.escrow, bidder.account)
        .unwrap();
    let sig = starknet::core::crypto::Signature {
        r: signed.signature[0],
        s: signed.signature[1],
    };
    let public = SigningKey::from_secret_scalar(key).verifying_key();
    assert!(public.verify(&hash, &sig).unwrap());
    // The terms cannot be changed after signing.
    let mut raised = signed.bid;
    raised.collateral += 1;
    let raised = raised
        .hash(chain_id, bidder.escrow, bidder.account)
        .unwrap();
    assert!(!public.verify(&raised, &sig).unwrap());
    // Two consents never share a nonce.
    let again = bidder
        .consent(&job, 7, 500, 1_000_000_500, 1_000_000)
        .unwrap();
    assert_ne!(again.nonce, consent.nonce);
}

#[test]
fn a_failing_step_is_retrying_until_its_limit_then_stuck() {
    use crate::job::Progress;
    assert_eq!(attempts::standing(1, 3), Progress::Retrying);
    assert_eq!(attempts::standing(2, 3), Progress::Retrying);
    assert_eq!(attempts::standing(3, 3), Progress::Stuck);
    assert_eq!(attempts::standing(40, 3), Progress::Stuck);
    // A limit of 0 still lets the first failure be reported as one.
    assert_eq!(attempts::standing(1, 0), Progress::Stuck);
}

#[test]
fn a_chain_clock_behind_a_passed_deadline_is_a_stopped_chain_only_past_the_grace() {
    let deadline = 1_000;
    // The chain has passed it: nothing is stuck, whatever this machine says.
    assert!(!attempts::clock_stopped(deadline, 1_001, 5_000, 60));
    // Neither clock has passed it: an honest wait.
    assert!(!attempts::clock_stopped(deadline, 990, 995, 60));
    // This machine is past it, within the grace: blocks may be slow.
    assert!(!attempts::clock_stopped(deadline, 990, 1_060, 60));
    // Past the grace, the chain's clock still short of it: no blocks are being made.
    assert!(attempts::clock_stopped(deadline, 990, 1_061, 60));
    assert!(attempts::clock_stopped(deadline, 1_000, 1_061, 60));
}

#[test]
fn an_acceptance_signed_again_for_the_same_job_and_worker_is_the_same_acceptance() {
    let (job, other) = (Hash::of(b"job"), Hash::of(b"another job"));
    let (worker, peer) = (Felt::from(7u8), Felt::from(8u8));
    // A resumed run signs the very nonce the crashed one did: the escrow pays it once.
    assert_eq!(
        batch::acceptance_nonce(&job, worker),
        batch::acceptance_nonce(&job, worker)
    );
    assert_ne!(
        batch::acceptance_nonce(&job, worker),
        batch::acceptance_nonce(&job, peer)
    );
    assert_ne!(
        batch::acceptance_nonce(&job, worker),
        batch::acceptance_nonce(&other, worker)
    );
}
