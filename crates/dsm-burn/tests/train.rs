//! Data sets in their real formats, and training that learns and is reproducible.

use std::path::Path;

use burn::prelude::*;
use dsm_burn::ModelError;
use dsm_burn::data::{Cifar, cifar_binary, digits, image_folder};
use dsm_burn::train::{EpochMetrics, TrainConfig, train_nb201};

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
        Err(ModelError::Io { .. })
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
    let (train, test) = digits().split(0.25, 3);
    let (train, test) = (
        train.subset(&(0..600).collect::<Vec<_>>()).to_rgb(),
        test.to_rgb(),
    );
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
    assert!(
        (cfg.lr_at(0, 10) - 0.1).abs() < 1e-12
            && cfg.lr_at(10, 10).abs() < 1e-12
            && (cfg.lr_at(5, 10) - 0.05).abs() < 1e-12
    );
}
