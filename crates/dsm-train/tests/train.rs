//! Data sets in their real formats, and training that learns and is reproducible.

use std::path::Path;

use burn::prelude::*;
use dsm_train::TrainError;
use dsm_train::data::{Cifar, cifar_binary, digits, image_folder};
use dsm_train::{EpochMetrics, TrainCheckpoint, TrainConfig, train_nb201, train_nb201_resumable};

/// The first `n_train` and `n_test` images (all test images for `None`) of the digits,
/// split with `seed`, as RGB.
fn rgb_digits(
    seed: u64,
    n_train: usize,
    n_test: Option<usize>,
) -> (dsm_train::data::ImageSet, dsm_train::data::ImageSet) {
    let (train, test) = digits().split(0.25, seed);
    let first = |s: &dsm_train::data::ImageSet, n: usize| s.subset(&(0..n).collect::<Vec<_>>());
    let test = match n_test {
        Some(n) => first(&test, n),
        None => test,
    };
    (first(&train, n_train).to_rgb(), test.to_rgb())
}

/// A cell with 3x3 and 1x1 convolutions, average pooling, a skip and a `none` edge.
const MIXED_CELL: &str =
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|";

fn tmp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("dsm-train-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_vendored_digits_are_complete() {
    let d = digits();
    assert_eq!((d.len(), d.shape, d.classes), (1797, [1, 8, 8], 10));
    for c in 0..10 {
        assert!(d.labels.iter().filter(|&&l| l == c).count() > 170);
    }
    assert!(d.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
    // First row of the CSV: "0,0,5,13,9,1,0,0,..." with label 0.
    assert_eq!(d.labels[0], 0);
    assert_eq!(&d.pixels[..4], &[0.0, 0.0, 5.0 / 16.0, 13.0 / 16.0]);
    let (a, b) = d.split(0.2, 7);
    assert_eq!((a.len(), b.len()), (1438, 359));
    assert_eq!(d.split(0.2, 7), (a, b));
}

#[test]
fn cifar_binaries_are_read_back_exactly_and_bad_files_are_errors() {
    let dir = tmp("cifar");
    // Two CIFAR-10 records and one CIFAR-100 record with known pixels.
    let mut ten = Vec::new();
    for (label, base) in [(3u8, 10u8), (9, 200)] {
        ten.push(label);
        ten.extend((0..3072).map(|i| base.wrapping_add((i % 50) as u8)));
    }
    std::fs::write(dir.join("data_batch_1.bin"), &ten).unwrap();
    let set = cifar_binary(&[&dir.join("data_batch_1.bin")], Cifar::Ten).unwrap();
    assert_eq!(
        (set.len(), set.shape, set.classes, set.labels.clone()),
        (2, [3, 32, 32], 10, vec![3, 9])
    );
    assert_eq!(set.pixels[3072 + 1], 201.0 / 255.0);
    let mut hundred = vec![4u8, 77u8];
    hundred.extend(std::iter::repeat_n(255u8, 3072));
    std::fs::write(dir.join("train.bin"), &hundred).unwrap();
    let set = cifar_binary(&[&dir.join("train.bin")], Cifar::Hundred).unwrap();
    assert_eq!(
        (set.labels.clone(), set.classes, set.pixels[5]),
        (vec![77], 100, 1.0)
    );
    // Truncated, a label out of range, a missing file.
    std::fs::write(dir.join("cut.bin"), &ten[..5000]).unwrap();
    let e = cifar_binary(&[&dir.join("cut.bin")], Cifar::Ten).unwrap_err();
    assert!(
        e.to_string().contains("cut.bin") && e.to_string().contains("offset 3073"),
        "{e}"
    );
    let mut bad = ten.clone();
    bad[3073] = 12;
    std::fs::write(dir.join("bad.bin"), &bad).unwrap();
    assert!(
        cifar_binary(&[&dir.join("bad.bin")], Cifar::Ten)
            .unwrap_err()
            .to_string()
            .contains("label 12 at offset 3073")
    );
    assert!(matches!(
        cifar_binary(&[Path::new("/nonexistent.bin")], Cifar::Ten),
        Err(TrainError::File(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn image_folders_are_read_with_labels_and_pixels() {
    let dir = tmp("folder");
    for (c, name) in ["cat", "dog"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        image::RgbImage::from_pixel(16, 16, image::Rgb([255 * c as u8, 0, 51]))
            .save(dir.join(name).join("x.png"))
            .unwrap();
    }
    let set = image_folder(&dir, 8).unwrap();
    assert_eq!(
        (set.len(), set.shape, set.classes, set.labels.clone()),
        (2, [3, 8, 8], 2, vec![0, 1])
    );
    assert_eq!(set.pixels[0], 0.0);
    assert_eq!(set.pixels[192], 1.0);
    assert!((set.pixels[128] - 0.2).abs() < 1e-6);
    std::fs::write(dir.join("dog").join("broken.jpg"), b"\xff\xd8 not a jpeg").unwrap();
    let e = image_folder(&dir, 8).unwrap_err();
    assert!(e.to_string().contains("broken.jpg"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn strip(m: &[EpochMetrics]) -> Vec<(f64, f64, f64)> {
    m.iter()
        .map(|e| (e.train_loss, e.train_acc, e.test_acc))
        .collect()
}

#[test]
fn training_learns_the_digits_and_is_reproducible() {
    let (train, test) = rgb_digits(3, 600, None);
    let cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
        .parse()
        .unwrap();
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 64,
        crop_padding: 1,
        flip: false,
        seed: 5,
        ..TrainConfig::default()
    };
    let dev = Device::flex();
    let mut seen = 0;
    let (net, m) = train_nb201(&cell, &train, &test, &cfg, &dev, &mut |_| seen += 1).unwrap();
    assert_eq!(seen, 3);
    assert!(m[2].test_acc > 40.0, "{m:?}"); // chance is 10 %
    assert!(m[2].train_loss < m[0].train_loss, "{m:?}");
    let (_, again) = train_nb201(&cell, &train, &test, &cfg, &dev, &mut |_| {}).unwrap();
    assert_eq!(strip(&m), strip(&again), "same seed, same training");
    let logits = net.forward(Tensor::zeros([1, 3, 8, 8], &dev));
    assert_eq!(logits.dims(), [1, 10]);
    let bad = TrainConfig {
        learning_rate: f64::NAN,
        ..cfg.clone()
    };
    assert!(train_nb201(&cell, &train, &test, &bad, &dev, &mut |_| {}).is_err());
    assert!(
        train_nb201(&cell, &digits(), &test, &cfg, &dev, &mut |_| {}).is_err(),
        "1-channel data is refused"
    );
    // 3 epochs of 10 steps: cosine from 0.1 to 0 over 30 steps.
    assert!(
        (cfg.lr_at(0, 10) - 0.1).abs() < 1e-12
            && cfg.lr_at(30, 10).abs() < 1e-12
            && (cfg.lr_at(15, 10) - 0.05).abs() < 1e-12
    );
    // One warm-up epoch: 0.01, 0.02, .. 0.1 over the first 10 steps, then cosine over 20.
    let warm = TrainConfig {
        warmup_epochs: 1,
        ..cfg.clone()
    };
    assert!((warm.lr_at(0, 10) - 0.01).abs() < 1e-12 && (warm.lr_at(9, 10) - 0.1).abs() < 1e-12);
    assert!((warm.lr_at(10, 10) - 0.1).abs() < 1e-12 && (warm.lr_at(20, 10) - 0.05).abs() < 1e-12);
    assert!(
        TrainConfig {
            warmup_epochs: 3,
            ..cfg.clone()
        }
        .check()
        .is_err()
    );
    assert!(
        TrainConfig {
            label_smoothing: 1.0,
            ..cfg.clone()
        }
        .check()
        .is_err()
    );
}

/// Every tensor of the trained network (weights and BatchNorm running statistics), as bits.
fn weights<M: burn::module::Module>(net: M) -> Vec<Vec<u32>> {
    use burn::module::{ModuleVisitor, Param};
    struct Collect(Vec<Vec<u32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let v = param
                .val()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap();
            self.0.push(v.iter().map(|x| x.to_bits()).collect());
        }
    }
    let mut c = Collect(Vec::new());
    net.visit(&mut c);
    c.0
}

#[test]
fn a_resumed_training_ends_with_the_weights_of_an_uninterrupted_one() {
    let dir = tmp("resume");
    let (train, test) = rgb_digits(4, 256, Some(128));
    let cell = MIXED_CELL.parse().unwrap();
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 64,
        crop_padding: 1,
        flip: true,
        seed: 11,
        ..TrainConfig::default()
    };
    let dev = Device::flex();
    let full = TrainCheckpoint::new(dir.join("full.ckpt"));
    // Keep copies of the checkpoint as it stood after epochs 1 and 2: what a run killed
    // during epoch 2 or 3 leaves behind.
    let (after1, after2) = (dir.join("after1.ckpt"), dir.join("after2.ckpt"));
    let (net, all) = train_nb201_resumable(&cell, &train, &test, &cfg, &dev, &full, &mut |m| {
        let copy = if m.epoch == 1 { &after1 } else { &after2 };
        if m.epoch < 3 {
            std::fs::copy(full.path(), copy).unwrap();
        }
    })
    .unwrap();
    assert_eq!(all.len(), 3);
    assert!(
        all.iter()
            .all(|m| (0.0..=100.0).contains(&m.test_top5) && m.test_top5 >= m.test_acc)
    );
    assert!(all.iter().all(|m| m.test_images_per_s > 0.0));
    let reference = weights(net);
    let (plain, plain_m) = train_nb201(&cell, &train, &test, &cfg, &dev, &mut |_| {}).unwrap();
    assert_eq!(
        strip(&plain_m),
        strip(&all),
        "checkpointing changes nothing"
    );
    drop(plain);

    for (copy, done) in [(&after1, 1), (&after2, 2)] {
        let ck = TrainCheckpoint::new(copy);
        assert_eq!(ck.history().unwrap().unwrap().len(), done);
        let mut epochs = Vec::new();
        let (net, m) = train_nb201_resumable(&cell, &train, &test, &cfg, &dev, &ck, &mut |m| {
            epochs.push(m.epoch)
        })
        .unwrap();
        assert_eq!(epochs, ((done + 1)..=3).collect::<Vec<_>>());
        assert_eq!(strip(&m), strip(&all), "resumed after epoch {done}");
        let w = weights(net);
        assert!(w == reference, "resumed after epoch {done}: other weights");
    }
    // A finished checkpoint only returns the result.
    let (net, m) =
        train_nb201_resumable(&cell, &train, &test, &cfg, &dev, &full, &mut |_| panic!()).unwrap();
    assert_eq!((strip(&m), weights(net) == reference), (strip(&all), true));

    // Another run's checkpoint is refused, and so is a damaged one: nothing half-loaded.
    let other = TrainConfig {
        seed: 12,
        ..cfg.clone()
    };
    let err =
        train_nb201_resumable(&cell, &train, &test, &other, &dev, &full, &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, TrainError::Checkpoint { .. }) && err.to_string().contains("another run"),
        "{err}"
    );
    let bytes = std::fs::read(full.path()).unwrap();
    for (name, bad) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("flipped", {
            let mut b = bytes.clone();
            b[bytes.len() / 3] ^= 1;
            b
        }),
        ("foreign", b"{\"epoch\": 3}".to_vec()),
    ] {
        let p = dir.join(format!("{name}.ckpt"));
        std::fs::write(&p, &bad).unwrap();
        let err = train_nb201_resumable(
            &cell,
            &train,
            &test,
            &cfg,
            &dev,
            &TrainCheckpoint::new(&p),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(err, TrainError::Checkpoint { .. }),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(&p.display().to_string()), "{err}");
        assert_eq!(
            std::fs::read(&p).unwrap(),
            bad,
            "{name}: the file is left alone"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The digits, upsampled to 32 x 32 so the five stride-2 stages of a MobileNet have pixels
/// left: `n_train` training and `n_test` test images.
fn upsampled_digits(
    n_train: usize,
    n_test: usize,
) -> (dsm_train::data::ImageSet, dsm_train::data::ImageSet) {
    let (train, test) = digits().split(0.25, 6);
    let up = |s: &dsm_train::data::ImageSet, n: usize| {
        let s = s.subset(&(0..n).collect::<Vec<_>>()).to_rgb();
        let mut pixels = Vec::with_capacity(n * 3 * 32 * 32);
        for img in s.pixels.chunks(3 * 64) {
            for c in 0..3 {
                for y in 0..32 {
                    for x in 0..32 {
                        pixels.push(img[c * 64 + (y / 4) * 8 + x / 4]);
                    }
                }
            }
        }
        dsm_train::data::ImageSet {
            shape: [3, 32, 32],
            pixels,
            ..s
        }
    };
    (up(&train, n_train), up(&test, n_test))
}

#[test]
fn a_resumed_mobilenet_training_ends_with_the_weights_of_an_uninterrupted_one() {
    use dsm_space::{MbV3Arch, MbV3Space};
    use dsm_train::{MbV3Builder, Trainer};
    let dir = tmp("resume-mbv3");
    let (train, test) = upsampled_digits(128, 64);
    let arch = MbV3Arch::uniform(2, 3, 3).unwrap();
    let builder = MbV3Builder::new(MbV3Space::new(0.5).unwrap());
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 32,
        learning_rate: 0.05,
        seed: 5,
        ..TrainConfig::default()
    };
    let dev = Device::flex();
    let (ck, after1) = (dir.join("full.ckpt"), dir.join("after1.ckpt"));
    let trainer = Trainer::new(&cfg, &dev).with_checkpoint(&ck);
    let (net, all) = trainer
        .fit(&builder, &arch, &train, &test, &mut |m| {
            if m.epoch == 1 {
                std::fs::copy(&ck, &after1).unwrap();
            }
        })
        .unwrap();
    let reference = weights(net);
    let mut epochs = Vec::new();
    let (net, m) = Trainer::new(&cfg, &dev)
        .with_checkpoint(&after1)
        .fit(&builder, &arch, &train, &test, &mut |m| {
            epochs.push(m.epoch)
        })
        .unwrap();
    assert_eq!((epochs, strip(&m)), (vec![2], strip(&all)));
    assert!(
        weights(net) == reference,
        "resumed after epoch 1: other weights"
    );
    // A checkpoint of another subnet is refused.
    let other = MbV3Arch::uniform(2, 5, 3).unwrap();
    let err = trainer
        .fit(&builder, &other, &train, &test, &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("another run"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_mobilenet_subnet_trains_with_label_smoothing_and_warm_up() {
    use dsm_space::{MbV3Arch, MbV3Space};
    use dsm_train::train_mbv3;
    let (train, test) = upsampled_digits(384, 128);
    let arch = MbV3Arch::uniform(2, 3, 3).unwrap();
    let space = MbV3Space::new(0.5).unwrap();
    let cfg = TrainConfig {
        epochs: 4,
        batch_size: 32,
        learning_rate: 0.05,
        crop_padding: 0,
        flip: false,
        label_smoothing: 0.1,
        warmup_epochs: 1,
        seed: 1,
        ..TrainConfig::default()
    };
    let dev = Device::flex();
    let (net, m) = train_mbv3(&arch, &space, &train, &test, &cfg, &dev, &mut |_| {}).unwrap();
    eprintln!("{m:?}");
    assert!(m[3].train_loss < m[0].train_loss, "{m:?}");
    assert!(m[3].test_acc > 20.0, "{m:?}"); // chance is 10 %
    assert_eq!(
        net.forward(Tensor::zeros([1, 3, 32, 32], &dev)).dims(),
        [1, 10]
    );
    let (_, again) = train_mbv3(&arch, &space, &train, &test, &cfg, &dev, &mut |_| {}).unwrap();
    assert_eq!(strip(&m), strip(&again), "same seed, same training");
}

/// The whole training step (our convolutions, BatchNorm and pooling with Burn's other ops)
/// gives bit-identical results on 1 and 3 threads: every reduction of ours runs over
/// groups fixed by the shapes.
#[test]
fn a_training_step_does_not_depend_on_the_thread_count() {
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::optim::GradientsParams;
    use dsm_models::Nb201Network;
    // Every op kind: 3x3 and 1x1 convolutions, skip, 3x3 average pooling, none.
    let cell: dsm_space::Nb201Cell =
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"
            .parse()
            .unwrap();
    let (batch, side) = (6, 16);
    let x: Vec<f32> = (0..batch * 3 * side * side)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let y: Vec<i64> = (0..batch as i64).map(|i| i % 10).collect();
    let step = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let dev = Device::flex().autodiff();
                let model = Nb201Network::init(&cell, 10, 3, &dev);
                let input = || {
                    Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, 3, side, side]), &dev)
                };
                let labels = Tensor::<1, Int>::from_data(TensorData::new(y.clone(), [batch]), &dev);
                let loss = CrossEntropyLossConfig::new()
                    .init(&dev)
                    .forward(model.forward(input()), labels);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                let mut optim = TrainConfig::default().optimizer();
                let model = optim.step(0.1, model, grads);
                // Every parameter moved by its gradient: the next forward shows any difference.
                model
                    .forward(input())
                    .into_data()
                    .try_into_vec::<f32>()
                    .unwrap()
            })
    };
    let one = step(1);
    assert!(one.iter().all(|v| v.is_finite()));
    assert_eq!(one, step(3));
}

#[test]
fn a_trained_network_saved_by_its_run_folder_reloads_to_identical_logits() {
    use dsm_models::{Nb201Network, StateDict};
    use dsm_space::output::{Existing, Settings};
    use dsm_train::{Nb201Builder, RunFolder, Trainer};
    let dir = tmp("saved");
    let (train, test) = rgb_digits(2, 128, Some(64));
    let cell = MIXED_CELL.parse().unwrap();
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: 64,
        ..TrainConfig::default()
    };
    let dev = Device::flex();
    let run = RunFolder::new(dir.join("run"), Existing::Refuse, &Settings::new("test")).unwrap();
    let mut log = run.prepare(&cfg).unwrap();
    let trainer = Trainer::new(&cfg, &dev).with_checkpoint(run.checkpoint().path());
    let (net, _) = trainer
        .fit(&Nb201Builder, &cell, &train, &test, &mut |m| log.record(m))
        .unwrap();
    log.finish().unwrap();
    let x = Tensor::<4>::random([3, 3, 8, 8], burn::tensor::Distribution::Default, &dev);
    let want = net.forward(x.clone()).into_data();
    run.save_nb201(net.clone(), &cell, 10).unwrap();
    let sd = StateDict::from_file(run.dir().join("model.safetensors")).unwrap();
    let back = Nb201Network::from_state_dict(&cell, 10, &sd, &dev).unwrap();
    assert_eq!(back.forward(x.clone()).into_data(), want);
    // What the model tools load from `--model <run folder>`: the cell and classes from
    // arch.json, the weights from model.safetensors.
    let args = dsm_models::zoo::ModelArgs {
        backend: "flex".into(),
        model: Some(run.dir().display().to_string()),
        weights: None,
        classes: None,
        width: 1.2,
    };
    let (loaded, _) = args.load().unwrap();
    assert_eq!(loaded.forward(x).into_data(), want);
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.dir().join("arch.json")).unwrap())
            .unwrap();
    assert_eq!(
        card,
        serde_json::json!({"space": "nas-bench-201", "cell": MIXED_CELL, "classes": 10, "C": 16, "N": 5})
    );
    assert_eq!(
        std::fs::read_to_string(run.dir().join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
