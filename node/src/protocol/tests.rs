use super::*;

fn announcement() -> Gossip {
    Gossip::Job(JobAnnouncement {
        job_id: Hash::of(b"job"),
        spec_hash: Hash::of(b"spec"),
        capability: "wasm".into(),
        reward: 10,
        deadline_ms: 1,
        redundancy: 2,
        limits: Limits::default(),
        addrs: addrs_to_wire(&["/ip4/127.0.0.1/tcp/1".parse().unwrap()]),
        round: 0,
    })
}

#[test]
fn sealed_gossip_opens_to_its_signer() {
    let key = identity::Keypair::generate_ed25519();
    let bytes = seal(&key, &announcement());
    let (signer, message) = open(&bytes, "/ciro/1/jobs/wasm").unwrap();
    assert_eq!(signer, key.public().to_peer_id());
    assert_eq!(message, announcement());
}

#[test]
fn forged_unsigned_and_misrouted_gossip_is_refused() {
    let key = identity::Keypair::generate_ed25519();
    let bytes = seal(&key, &announcement());
    let mut envelope: Envelope = decode(&bytes).unwrap();

    // Another body under the same signature: a forgery.
    let mut forged = envelope.clone();
    let Gossip::Job(mut job) = announcement() else {
        unreachable!()
    };
    job.reward = 1_000_000;
    forged.body = postcard::to_stdvec(&Gossip::Job(job)).unwrap();
    let forged = postcard::to_stdvec(&forged).unwrap();
    assert_eq!(
        open(&forged, "/ciro/1/jobs/wasm"),
        Err(WireError::BadSignature)
    );

    // Someone else's key claimed as the signer.
    let mut impostor = envelope.clone();
    impostor.signer = identity::Keypair::generate_ed25519()
        .public()
        .try_into_ed25519()
        .unwrap()
        .to_bytes()
        .to_vec();
    let impostor = postcard::to_stdvec(&impostor).unwrap();
    assert_eq!(
        open(&impostor, "/ciro/1/jobs/wasm"),
        Err(WireError::BadSignature)
    );

    // No signature at all.
    envelope.signature.clear();
    let unsigned = postcard::to_stdvec(&envelope).unwrap();
    assert_eq!(
        open(&unsigned, "/ciro/1/jobs/wasm"),
        Err(WireError::BadSignature)
    );

    // A valid message on another capability's topic.
    assert_eq!(
        open(&bytes, "/ciro/1/jobs/gpu"),
        Err(WireError::Invalid("message sent on the wrong topic"))
    );
}

#[test]
fn malformed_oversized_and_future_gossip_is_refused() {
    let key = identity::Keypair::generate_ed25519();
    let bytes = seal(&key, &announcement());
    for cut in [0, 1, 5, bytes.len() / 2, bytes.len() - 1] {
        let err = open(&bytes[..cut], "/ciro/1/jobs/wasm").unwrap_err();
        assert!(matches!(err, WireError::Malformed(_)), "cut {cut}: {err:?}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        open(&trailing, "/ciro/1/jobs/wasm"),
        Err(WireError::Malformed(_))
    ));
    assert_eq!(
        open(&vec![0u8; MAX_GOSSIP_BYTES + 1], "/ciro/1/jobs/wasm"),
        Err(WireError::TooLarge {
            size: MAX_GOSSIP_BYTES + 1,
            limit: MAX_GOSSIP_BYTES
        })
    );
    let mut envelope: Envelope = decode(&bytes).unwrap();
    envelope.version = 2;
    assert_eq!(
        open(
            &postcard::to_stdvec(&envelope).unwrap(),
            "/ciro/1/jobs/wasm"
        ),
        Err(WireError::Version(2))
    );
    // Garbage of every small length never panics and is never accepted.
    for len in 0..200usize {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
        assert!(open(&junk, "/ciro/1/jobs/wasm").is_err());
        let _ = decode_request(&junk);
    }
}

#[test]
fn signed_but_invalid_content_is_refused() {
    let key = identity::Keypair::generate_ed25519();
    let Gossip::Job(mut job) = announcement() else {
        unreachable!()
    };
    job.redundancy = 0;
    let bytes = seal(&key, &Gossip::Job(job.clone()));
    assert_eq!(
        open(&bytes, "/ciro/1/jobs/wasm"),
        Err(WireError::Invalid("redundancy out of range"))
    );
    job.redundancy = 1;
    job.capability = "Not Valid".into();
    let bytes = seal(&key, &Gossip::Job(job));
    assert!(open(&bytes, "/ciro/1/jobs/Not Valid").is_err());
    let ad = Gossip::Capabilities(CapabilityAd {
        capabilities: vec![],
        min_price: 0,
        slots: 1,
        issued_ms: 0,
        ttl_secs: 60,
        addrs: vec![],
        backing: None,
    });
    assert_eq!(
        open(&seal(&key, &ad), topics::CAPABILITIES),
        Err(WireError::Invalid("capability count out of range"))
    );
}

#[test]
fn requests_round_trip_and_bad_frames_are_refused() {
    let request = Request::Assign(Assignment {
        job_id: Hash::of(b"j"),
        module: Hash::of(b"m"),
        input: Hash::of(b"i"),
        limits: Limits::default(),
        deadline_ms: 5,
    });
    let bytes = encode_request(&request);
    assert_eq!(decode_request(&bytes).unwrap(), request);
    assert!(matches!(
        decode_request(&bytes[..bytes.len() - 3]),
        Err(WireError::Malformed(_))
    ));
    let Request::Assign(mut bad) = request else {
        unreachable!()
    };
    bad.limits.fuel = 0;
    assert_eq!(
        decode_request(&encode_request(&Request::Assign(bad))),
        Err(WireError::Invalid("fuel out of range"))
    );
    // An unknown variant tag.
    assert!(matches!(
        decode_request(&[9, 0, 0]),
        Err(WireError::Malformed(_))
    ));
}

#[test]
fn an_acceptance_round_trips_and_one_without_a_sane_signature_is_refused() {
    let accepted = Accepted {
        job_id: Hash::of(b"j"),
        client: [1; 32],
        capability: [2; 32],
        amount: 10,
        fee_bps: 250,
        commitment: [3; 32],
        nonce: [4; 32],
        signature: vec![[5; 32], [6; 32]],
    };
    let request = Request::Accepted(accepted.clone());
    assert_eq!(decode_request(&encode_request(&request)).unwrap(), request);
    for signature in [vec![], vec![[0; 32]; MAX_SIGNATURE_FELTS + 1]] {
        let bad = Request::Accepted(Accepted {
            signature,
            ..accepted.clone()
        });
        assert_eq!(
            decode_request(&encode_request(&bad)),
            Err(WireError::Invalid("signature length out of range"))
        );
    }
}

#[test]
fn frames_longer_than_the_limit_are_refused_before_reading() {
    futures::executor::block_on(async {
        let mut frame = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
        frame.extend([0u8; 16]);
        let mut io = futures::io::Cursor::new(frame);
        let err = read_frame(&mut io).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // A frame that promises more than it carries.
        let mut short = 100u32.to_be_bytes().to_vec();
        short.extend([1u8; 10]);
        let err = read_frame(&mut futures::io::Cursor::new(short))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    });
}

#[test]
fn the_codec_hands_refused_frames_to_the_node() {
    use libp2p::request_response::Codec;
    futures::executor::block_on(async {
        let mut codec = JobCodec;
        let mut junk = 3u32.to_be_bytes().to_vec();
        junk.extend([0xff; 3]);
        let request = codec
            .read_request(&JOB_PROTOCOL, &mut futures::io::Cursor::new(junk))
            .await
            .unwrap();
        assert!(matches!(request, Request::Refused(WireError::Malformed(_))));
        let big = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
        let request = codec
            .read_request(&JOB_PROTOCOL, &mut futures::io::Cursor::new(big))
            .await
            .unwrap();
        assert_eq!(
            request,
            Request::Refused(WireError::TooLarge {
                size: MAX_FRAME_BYTES + 1,
                limit: MAX_FRAME_BYTES
            })
        );
        let mut out = futures::io::Cursor::new(Vec::new());
        assert!(codec
            .write_request(&JOB_PROTOCOL, &mut out, Request::Refused(WireError::BadKey))
            .await
            .is_err());
        assert!(out.into_inner().is_empty());
    });
}

#[test]
fn capability_names_are_checked() {
    for ok in ["wasm", "gpu:a100", "cpu.avx2", "x-86_64"] {
        check_capability(ok).unwrap();
    }
    for bad in ["", "WASM", "has space", "ü", &"a".repeat(49), "a/b"] {
        assert!(check_capability(bad).is_err(), "{bad:?}");
    }
}
