//! ImageFolder evaluation on a tiny generated tree, checked against a per-image computation.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use dsm_models::Nb201Network;
use dsm_train::imagenet::{ImageFolder, MEAN, STD, Transform, evaluate, preprocess};
use dsm_train::top_k;

fn write_image(path: &Path, w: u32, h: u32, seed: u32) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = (x * 7 + y * 13 + seed * 31) % 256;
        image::Rgb([v as u8, ((v * 3 + seed) % 256) as u8, (255 - v) as u8])
    });
    img.save(path).unwrap();
}

fn tree(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("dsm-imagenet-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (c, class) in ["n01_cat", "n02_dog"].iter().enumerate() {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        write_image(&dir.join("a.png"), 300, 260, c as u32);
        write_image(&dir.join("b.jpg"), 256, 400, 10 + c as u32);
        write_image(&dir.join("c.JPEG"), 500, 300, 20 + c as u32);
        std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
    }
    root
}

#[test]
fn folder_listing_follows_the_imagefolder_convention() {
    let root = tree("list");
    let f = ImageFolder::open(&root).unwrap();
    assert_eq!(f.classes, vec!["n01_cat", "n02_dog"]);
    assert_eq!(f.samples.len(), 6);
    assert!(
        f.samples[..3].iter().all(|(_, c)| *c == 0) && f.samples[3..].iter().all(|(_, c)| *c == 1)
    );
    assert!(ImageFolder::open(root.join("missing")).is_err());
    let empty = root.join("n01_cat/a.png");
    assert!(ImageFolder::open(&empty).is_err());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn preprocessing_normalises_a_flat_image_exactly() {
    let dir = std::env::temp_dir().join(format!("dsm-flat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("flat.png");
    image::RgbImage::from_pixel(333, 250, image::Rgb([255, 0, 128]))
        .save(&p)
        .unwrap();
    let x = preprocess(&p, 256, 224).unwrap();
    assert_eq!(x.len(), 3 * 224 * 224);
    let want = [
        (1.0 - MEAN[0]) / STD[0],
        (0.0 - MEAN[1]) / STD[1],
        (128.0 / 255.0 - MEAN[2]) / STD[2],
    ];
    for c in 0..3 {
        assert!(
            x[c * 224 * 224..(c + 1) * 224 * 224]
                .iter()
                .all(|v| (v - want[c]).abs() < 1e-5)
        );
    }
    std::fs::write(dir.join("bad.png"), b"\x89PNG broken").unwrap();
    let e = preprocess(&dir.join("bad.png"), 256, 224).unwrap_err();
    assert!(e.to_string().contains("bad.png"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn evaluation_matches_a_per_image_computation() {
    let root = tree("eval");
    let folder = ImageFolder::open(&root).unwrap();
    let dev = Device::flex();
    let cell =
        "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
    let net = Nb201Network::new(&cell, 7, &dev);
    let t = Transform {
        resize: 40,
        crop: 32,
    };
    let report = evaluate(&folder, &|x| net.forward(x), 4, t, &dev, &mut |_, _| {}).unwrap();
    // Independently: one image at a time, argmax and the rank of the label by counting.
    let (mut top1, mut top5) = (0, 0);
    for (path, label) in &folder.samples {
        let x: Tensor<4> = Tensor::from_data(
            TensorData::new(preprocess(path, 40, 32).unwrap(), [1, 3, 32, 32]),
            &dev,
        );
        let y: Vec<f32> = net
            .forward(x)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let better = y
            .iter()
            .enumerate()
            .filter(|&(i, v)| *v > y[*label] || (*v == y[*label] && i < *label))
            .count();
        top1 += usize::from(better == 0);
        top5 += usize::from(better < 5);
    }
    assert_eq!(report.images, 6);
    assert!(
        (report.top1 - 100.0 * top1 as f64 / 6.0).abs() < 1e-9,
        "{report:?} vs {top1}"
    );
    assert!(
        (report.top5 - 100.0 * top5 as f64 / 6.0).abs() < 1e-9,
        "{report:?} vs {top5}"
    );
    assert!(report.images_per_s > 0.0);
    assert_eq!(top_k(&[0.1, 0.9, 0.5, 0.9], 4, 3), vec![vec![1, 3, 2]]);
    std::fs::remove_dir_all(&root).unwrap();
}
