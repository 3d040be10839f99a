//! Parity with the PyTorch reference: the fixtures in `shared/fixtures/` (random weights,
//! fixed inputs, PyTorch outputs). Criterion: `max|y - logits_f64| / max|logits_f64| <= 1e-4`.
//! Ignored, with the reason, where `shared/` is absent (a user's clone): see `build.rs`.

use std::path::PathBuf;

use burn::prelude::*;
use dsm_models::{MobileNetV3, ModelError, Nb201Network, StateDict, dsm_nas};
use dsm_space::{MbV3Arch, MbV3Space, Nb201Cell};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ))
}

/// The backend under test: `DSM_TEST_BACKEND` (flex, ndarray, wgpu, tch, cuda; what
/// `cargo xtask backends` sets), flex by default.
fn device() -> Device {
    match std::env::var("DSM_TEST_BACKEND") {
        Ok(name) => name
            .parse::<dsm_models::backend::Backend>()
            .and_then(|b| b.device())
            .unwrap_or_else(|e| panic!("DSM_TEST_BACKEND={name}: {e}")),
        Err(_) => Device::flex(),
    }
}

fn input(io: &StateDict, dev: &Device) -> Tensor<4> {
    let t = io.get("input").expect("input tensor");
    let s: [usize; 4] = t.shape.clone().try_into().expect("NCHW");
    Tensor::from_data(TensorData::new(t.data.clone(), s), dev)
}

fn rel_err(y: &Tensor<2>, want: &[f32]) -> f32 {
    let got: Vec<f32> = y
        .clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    got.iter()
        .zip(want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

const NB201: [(&str, &str); 3] = [
    (
        "nb201_best_c10",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    ),
    (
        "nb201_pool1x1skip_c10",
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    ),
    (
        "nb201_none_c10",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ),
];

#[test]
#[cfg_attr(
    not(shared_fixtures),
    ignore = "needs ../shared/fixtures (the project's own checkout)"
)]
fn nb201_networks_match_pytorch() {
    let dir = fixtures();
    let dev = device();
    for (tag, arch) in NB201 {
        let cell: Nb201Cell = arch.parse().unwrap();
        let io = StateDict::from_file(dir.join(format!("nb201/{tag}_io_32.safetensors"))).unwrap();
        let want = &io.get("logits_f64").unwrap().data;
        for ext in ["safetensors", "pt"] {
            let sd = StateDict::from_file(dir.join(format!("nb201/{tag}.{ext}"))).unwrap();
            let net = Nb201Network::from_state_dict(&cell, 10, &sd, &dev).unwrap();
            let y = net.forward(input(&io, &dev));
            assert_eq!(y.dims(), [2, 10]);
            let e = rel_err(&y, want);
            eprintln!("{tag}.{ext}: max relative error {e:.2e}");
            assert!(e <= 1e-4, "{tag}.{ext}: relative error {e}");
        }
        let net = Nb201Network::new(&cell, 10, &dev);
        assert_eq!(net.madds(32), cell.flops(10, 32).unwrap(), "{tag}");
    }
}

fn ofa_case(
    dir: &std::path::Path,
    tag: &str,
    arch: &MbV3Arch,
    space: &MbV3Space,
    res: usize,
    exts: &[&str],
) {
    let dev = device();
    let io = StateDict::from_file(dir.join(format!("ofa/{tag}_io_{res}.safetensors"))).unwrap();
    let want = &io.get("logits_f64").unwrap().data;
    for ext in exts {
        let sd = StateDict::from_file(dir.join(format!("ofa/{tag}.{ext}"))).unwrap();
        let net = MobileNetV3::from_state_dict(arch, space, &sd, &dev).unwrap();
        let y = net.forward(input(&io, &dev));
        assert_eq!(y.dims(), [1, 1000]);
        let e = rel_err(&y, want);
        eprintln!("{tag}.{ext} at {res}: max relative error {e:.2e}");
        assert!(e <= 1e-4, "{tag}.{ext} at {res}: relative error {e}");
        // Inference with BatchNorm folded into the convolutions: the same logits.
        let folded = net.fold_batchnorm().forward(input(&io, &dev));
        let e = rel_err(&folded, want);
        eprintln!("{tag}.{ext} at {res}, BatchNorm folded: max relative error {e:.2e}");
        assert!(e <= 1e-4, "{tag}.{ext} at {res} folded: relative error {e}");
    }
}

#[test]
#[cfg_attr(
    not(shared_fixtures),
    ignore = "needs ../shared/fixtures (the project's own checkout)"
)]
fn small_mobilenet_matches_pytorch_at_224_and_64_from_safetensors_and_pt() {
    let dir = fixtures();
    let arch = MbV3Arch::uniform(2, 3, 3).unwrap();
    let space = MbV3Space::new(1.0).unwrap();
    ofa_case(
        &dir,
        "small_w1.0_d2_k3_e3",
        &arch,
        &space,
        224,
        &["safetensors", "pt"],
    );
    ofa_case(
        &dir,
        "small_w1.0_d2_k3_e3",
        &arch,
        &space,
        64,
        &["safetensors"],
    );
}

#[test]
#[cfg_attr(
    not(shared_fixtures),
    ignore = "needs ../shared/fixtures (the project's own checkout)"
)]
fn dsm_nas_matches_pytorch_at_224() {
    let dir = fixtures();
    let (arch, space) = dsm_nas();
    ofa_case(&dir, "dsm_nas", &arch, &space, 224, &["safetensors"]);
}

#[test]
fn walked_madds_equal_the_analytic_count() {
    let dev = device();
    for (arch, space) in [
        dsm_nas(),
        dsm_models::dsm_nas_plus(),
        (
            MbV3Arch::uniform(4, 7, 6).unwrap(),
            MbV3Space::new(1.0).unwrap(),
        ),
    ] {
        let net = MobileNetV3::new(&arch, &space, &dev).unwrap();
        for res in [192u32, 224, 256, 64] {
            let c = space.cost_at(&arch, res).unwrap();
            let (convs, classifier) = net.madds(res as usize);
            assert_eq!(convs, c.madds, "{arch} @ {res}");
            assert_eq!(convs + classifier, c.madds_with_classifier);
        }
    }
}

#[test]
#[cfg_attr(
    not(shared_fixtures),
    ignore = "needs ../shared/fixtures (the project's own checkout)"
)]
fn a_wrong_state_dict_is_refused_listing_every_offender() {
    let dir = fixtures();
    let dev = device();
    let mut sd = StateDict::from_file(dir.join("nb201/nb201_best_c10.safetensors")).unwrap();
    // The wrong cell: the file has convs where this cell has none, and lacks one it needs.
    let other: Nb201Cell = NB201[1].1.parse().unwrap();
    let e = Nb201Network::from_state_dict(&other, 10, &sd, &dev).unwrap_err();
    let ModelError::StateDict { report, .. } = &e else {
        panic!("{e}")
    };
    assert!(
        !report.missing.is_empty()
            && !report.unexpected.is_empty()
            && !report.mismatched.is_empty(),
        "{e}"
    );
    // One tensor removed, one added, one reshaped: each named.
    let best: Nb201Cell = NB201[0].1.parse().unwrap();
    sd.remove("classifier.bias");
    let mut extra = sd.get("stem.1.weight").unwrap().clone();
    sd.insert("stem.9.weight", extra.clone());
    extra.shape = vec![8, 2];
    sd.insert("lastact.0.weight", extra);
    let e = Nb201Network::from_state_dict(&best, 10, &sd, &dev).unwrap_err();
    let msg = e.to_string();
    for needle in [
        "classifier.bias [10]",
        "stem.9.weight",
        "lastact.0.weight expected [64] found [8, 2]",
    ] {
        assert!(msg.contains(needle), "{msg} should mention {needle}");
    }
    // Ten classes in the file, a hundred asked.
    let sd = StateDict::from_file(dir.join("nb201/nb201_best_c10.safetensors")).unwrap();
    assert!(
        Nb201Network::from_state_dict(&best, 100, &sd, &dev)
            .unwrap_err()
            .to_string()
            .contains("classifier.weight expected [100, 64] found [10, 64]")
    );
}

#[test]
fn corrupt_weight_files_are_typed_errors() {
    let dir = std::env::temp_dir().join(format!("dsm-models-w-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").unwrap();
    let e = StateDict::from_file(&junk).unwrap_err();
    assert!(
        matches!(&e, ModelError::Format(f) if f.format == "safetensors"),
        "{e}"
    );
    // The message names the formats weights are read from.
    assert!(e.to_string().contains("PyTorch checkpoints"), "{e}");
    let pt = dir.join("junk.pt");
    std::fs::write(&pt, b"PK\x03\x04 truncated").unwrap();
    let e = StateDict::from_file(&pt).unwrap_err();
    assert!(
        matches!(
            &e,
            ModelError::Format(f) if f.format == "PyTorch"
        ),
        "{e}"
    );
    assert!(matches!(
        StateDict::from_file(dir.join("missing.pt")),
        Err(ModelError::File(_))
    ));
    // A truncated real weight file too, where the fixtures are present.
    if cfg!(shared_fixtures) {
        let f = fixtures();
        let bytes = std::fs::read(f.join("nb201/nb201_none_c10.safetensors")).unwrap();
        let cut = dir.join("cut.safetensors");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(
            StateDict::from_file(&cut),
            Err(ModelError::Format(_))
        ));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn safetensors_round_trip_and_burn_record_reload_are_exact() {
    let dev = device();
    let cell: Nb201Cell = NB201[1].1.parse().unwrap();
    let net = Nb201Network::new(&cell, 10, &dev);
    let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &dev);
    let y = net.forward(x.clone());
    let dir = std::env::temp_dir().join(format!("dsm-models-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net");
    net.clone().save_file(&path).unwrap();
    let back = Nb201Network::new(&cell, 10, &dev)
        .try_load_file(&path)
        .unwrap();
    let y2 = back.forward(x);
    assert_eq!(y.into_data(), y2.into_data());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `state_dict()` of a network loaded from a reference file gives that file back: the same
/// names (PyTorch's, `num_batches_tracked` included), shapes and float values, bit for bit.
fn assert_same_layout(tag: &str, reference: &StateDict, saved: &StateDict) {
    let names = |sd: &StateDict| sd.names().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(names(saved), names(reference), "{tag}: tensor names");
    for name in reference.names() {
        let (a, b) = (reference.get(name).unwrap(), saved.get(name).unwrap());
        assert_eq!((&a.shape, a.is_int), (&b.shape, b.is_int), "{tag}: {name}");
        if !a.is_int {
            let bits = |t: &dsm_models::NamedTensor| {
                t.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            };
            assert!(bits(a) == bits(b), "{tag}: {name} values differ");
        }
    }
}

#[test]
#[cfg_attr(
    not(shared_fixtures),
    ignore = "needs ../shared/fixtures (the project's own checkout)"
)]
fn saved_state_dicts_have_the_reference_names_and_values() {
    let dir = fixtures();
    let dev = Device::flex();
    let out = std::env::temp_dir().join(format!("dsm-models-save-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    for (tag, arch) in NB201 {
        let cell: Nb201Cell = arch.parse().unwrap();
        let sd = StateDict::from_file(dir.join(format!("nb201/{tag}.safetensors"))).unwrap();
        let net = Nb201Network::from_state_dict(&cell, 10, &sd, &dev).unwrap();
        let saved = net.state_dict();
        assert_same_layout(tag, &sd, &saved);
        let path = out.join(format!("{tag}.safetensors"));
        saved.save_safetensors(&path).unwrap();
        assert_eq!(
            StateDict::from_file(&path).unwrap(),
            saved,
            "{tag}: file round trip"
        );
    }
    for (tag, (arch, space)) in [
        (
            "small_w1.0_d2_k3_e3",
            (
                MbV3Arch::uniform(2, 3, 3).unwrap(),
                MbV3Space::new(1.0).unwrap(),
            ),
        ),
        ("dsm_nas", dsm_nas()),
    ] {
        let sd = StateDict::from_file(dir.join(format!("ofa/{tag}.safetensors"))).unwrap();
        let net = MobileNetV3::from_state_dict(&arch, &space, &sd, &dev).unwrap();
        assert_same_layout(tag, &sd, &net.state_dict().unwrap());
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_saved_mobilenet_reloads_to_the_same_logits_and_a_folded_one_is_refused() {
    let dev = Device::flex();
    let arch = MbV3Arch::uniform(3, 5, 4).unwrap();
    let space = MbV3Space::new(1.2).unwrap().with_classes(7).unwrap();
    let net = MobileNetV3::init(&arch, &space, 3, &dev).unwrap();
    let sd = net.state_dict().unwrap();
    let bytes = sd.to_safetensors().unwrap();
    let back = StateDict::from_safetensors_bytes(&bytes, "memory").unwrap();
    let again = MobileNetV3::from_state_dict(&arch, &space, &back, &dev).unwrap();
    let x = Tensor::<4>::random([2, 3, 64, 64], burn::tensor::Distribution::Default, &dev);
    assert_eq!(
        net.forward(x.clone()).into_data(),
        again.forward(x).into_data()
    );
    let err = net.fold_batchnorm().state_dict().unwrap_err();
    assert!(
        matches!(err, ModelError::Input { .. }) && err.to_string().contains("fold_batchnorm"),
        "{err}"
    );
}
