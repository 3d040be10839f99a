//! Proxy-guided methods in the published protocol: built per data set with FreeREA's values,
//! their guidance recorded, their proxy evaluations counted and charged, bad settings
//! refused before anything runs.

use dsm_protocol::Execution;
use dsm_protocol::nb201::Nb201Config;

fn config(methods: &[&str]) -> Nb201Config {
    Nb201Config {
        methods: methods.iter().map(|m| m.to_string()).collect(),
        dataset: vec!["cifar10".into(), "imagenet16".into()],
        signal: "hp12".into(),
        budget_s: 1e9,
        max_iters: 11,
        trials: 4,
        ..Default::default()
    }
}

#[test]
fn guided_methods_run_per_data_set_and_are_recorded() {
    let protocol = config(&["dsm-nas+zc", "random+zc", "random"])
        .check()
        .unwrap();
    let results = protocol.run(Execution::default()).unwrap();
    assert_eq!(results.trials.len(), 3 * 2 * 4);
    let guide = results.config.guide.as_ref().expect("guide recorded");
    assert_eq!(guide.proxies, ["logsynflow", "naswot"]);
    for t in &results.trials {
        let guided = t.method.ends_with("+zc");
        // dsm-nas+zc: the warm start, then each of the 12 queries screened among 5.
        let expected = match t.method.as_str() {
            "dsm-nas+zc" => guide.warm_start + 12 * guide.screen,
            "random+zc" => guide.warm_start,
            _ => 0,
        };
        assert_eq!(t.proxy_evaluations, expected, "{}", t.method);
        assert_eq!(t.proxy_cost_s > 0.0, guided);
    }
    // The same cells on both data sets would mean one data set's proxies served both.
    let best = |d: &str| -> Vec<String> {
        results
            .trials
            .iter()
            .filter(|t| t.method == "random+zc" && t.dataset == d)
            .map(|t| t.best_arch.clone())
            .collect()
    };
    assert_ne!(best("cifar10"), best("imagenet16"));
    // Unguided runs record no guide.
    let plain = config(&["random"]).check().unwrap();
    assert!(
        plain
            .run(Execution::default())
            .unwrap()
            .config
            .guide
            .is_none()
    );
}

#[test]
fn bad_guidance_is_refused_before_running() {
    let cases = [
        (
            Nb201Config {
                proxies: "jacov".into(),
                ..config(&["rea+zc"])
            },
            "jacov",
        ),
        (
            Nb201Config {
                proxies: "naswot,naswot".into(),
                ..config(&["rea+zc"])
            },
            "twice",
        ),
        // FreeREA has no linear-region counts on ImageNet16-120.
        (
            Nb201Config {
                proxies: "nregions".into(),
                ..config(&["rea+zc"])
            },
            "nregions",
        ),
        (
            Nb201Config {
                screen: 0,
                ..config(&["rea+zc"])
            },
            "screen",
        ),
        (
            Nb201Config {
                warm_start: 0,
                screen: 1,
                ..config(&["rea+zc"])
            },
            "warm_start",
        ),
        (config(&["bohb+zc"]), "bohb+zc"),
        (config(&["rea+zc", "rea+zc"]), "once"),
    ];
    for (c, needle) in cases {
        let err = c.check().unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // Guidance settings of an unguided run would be ignored: refused, naming the flag;
    // left at their defaults they are accepted.
    let err = Nb201Config {
        screen: 0,
        ..config(&["rea"])
    }
    .check()
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--screen") && err.contains("guided (+zc) methods"),
        "{err}"
    );
    assert!(config(&["rea"]).check().is_ok());
}
