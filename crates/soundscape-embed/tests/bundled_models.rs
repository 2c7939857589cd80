//! The bundled models of `just models`, as tract runs them here: the steps taken out of a
//! graph's head ([`Network::load_with`]) give the graph's own bits on the real networks
//! (BirdNET's float input, batbot's byte input). Skipped when the models are missing, but
//! failed under `just test` (`SOUNDSCAPE_REQUIRE_MODELS=1`), which fetches them first.

use std::path::PathBuf;

use soundscape_embed::manifest::ModelDir;
use soundscape_embed::network::Network;

fn models() -> Option<PathBuf> {
    soundscape_testkit::fetched("models/birdnet-v2.4/model.json", "just models").map(|m| {
        m.parent()
            .and_then(|d| d.parent())
            .expect("models/NAME/model.json")
            .to_path_buf()
    })
}

/// Model `name` loaded with its head's steps taken out (there must be `steps`) and without:
/// the same embedding (`dims.0` values) and scores (`dims.1`) bit for bit on three inputs
/// whose values `value` draws from a random u32.
fn folded_gives_the_graphs_bits(
    name: &str,
    steps: usize,
    dims: (usize, usize),
    value: fn(u32) -> f32,
) {
    let Some(models) = models() else { return };
    let dir = ModelDir::find(&models, name).unwrap();
    let m = &dir.manifest;
    let weights = dir.path(&m.weights);
    let folded = Network::load(m, &weights, 1).unwrap();
    let whole = Network::load_with(m, &weights, 1, false).unwrap();
    assert_eq!(
        (folded.input_steps(), whole.input_steps()),
        (steps, 0),
        "{name}"
    );
    let len: usize = m.input.shape.iter().product();
    let mut state = 99u32;
    for _ in 0..3 {
        let x: Vec<f32> = (0..len)
            .map(|_| {
                state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                value(state)
            })
            .collect();
        let run = |net: &Network| {
            let out = net.run(&mut x.clone(), 1, &m.input.shape).unwrap();
            let bits = |v: &Vec<Vec<f32>>| -> Vec<u32> {
                v.iter().flatten().map(|x| x.to_bits()).collect()
            };
            (bits(&out.embeddings), bits(&out.scores))
        };
        let (a, b) = (run(&folded), run(&whole));
        assert_eq!((a.0.len(), a.1.len()), dims, "{name}");
        assert!(
            a == b,
            "{name}: the folded network's outputs differ from the graph's"
        );
    }
}

#[test]
fn birdnets_input_normalisation_outside_the_graph_gives_the_graphs_bits() {
    // The graph begins with the batch normalisation of its two mel channels; its inputs are
    // powers of mel sums, 0 to a few.
    folded_gives_the_graphs_bits("birdnet-v2.4", 2, (1024, 6522), |r| {
        (r >> 8) as f32 / (1u32 << 24) as f32 * 3.0
    });
}

#[test]
fn batbots_image_normalisation_outside_the_graph_gives_the_graphs_bits() {
    // Its byte picture is cast to float, then scaled and normalised by three constants; its
    // inputs are grey levels.
    folded_gives_the_graphs_bits("batbot-0.2.1", 3, (960, 35), |r| (r >> 24) as f32);
}
