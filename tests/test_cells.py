import pytest
import torch as th

from sb3_arq.arq.cells import CELLS, GOODNESS, ADCell, ARQCell, CellSpec, OutputConditionedARQCell, action_codes, cell_class
from sb3_arq.naive import naive_activity, naive_codes, naive_q_all, naive_q_all_ad, naive_q_all_output_conditioned

# With autograd the cells take the Gram form; without it (acting, the update's targets) M is standardised in place
AUTOGRAD = pytest.mark.parametrize("autograd", [True, False], ids=["autograd", "forward-only"])


@pytest.mark.parametrize("encoding, n_actions", [("onehot", 3), ("onehot", 6), ("binary", 8)])
@pytest.mark.parametrize("goodness", GOODNESS)
@AUTOGRAD
def test_cell_matches_naive_spec(encoding, n_actions, goodness, autograd):
    th.manual_seed(0)
    input_dim, width, n_heads, batch = 23, 16, 4, 7
    cell = randomise_norm(
        ARQCell(input_dim, width, action_codes(n_actions, encoding), CellSpec(n_heads=n_heads, goodness=goodness)).double()
    )
    x = th.randn(batch, input_dim, dtype=th.float64)
    params = dict(cell.state_dict())

    h = cell.activity(x)
    expected = naive_q_all(params, x, naive_codes(n_actions, encoding), n_heads, goodness)
    actions = th.randint(n_actions, (batch,))
    with th.set_grad_enabled(autograd):
        q_all, q_taken = cell.q_values(x, h), cell.q_values(x, h, actions)

    rel_all = ((q_all - expected).abs() / expected.abs().clamp_min(1e-12)).max().item()
    rel_taken = ((q_taken - expected[th.arange(batch), actions]).abs() / expected.abs().max()).max().item()
    print(f"{encoding}/{n_actions}/{goodness}: max relative error all actions {rel_all:.2e}, taken {rel_taken:.2e}")
    assert th.allclose(h, naive_activity(params, x), rtol=1e-10, atol=1e-12)
    assert rel_all < 1e-5 and rel_taken < 1e-5
    assert (q_all >= 0).all()


def randomise_norm(cell):
    with th.no_grad():  # non-trivial LayerNorm affine
        cell.norm.weight.uniform_(0.5, 1.5)
        cell.norm.bias.uniform_(-0.5, 0.5)
    return cell


@pytest.mark.parametrize("variant", [*(f"output-{goodness}" for goodness in GOODNESS), "ad"])
@AUTOGRAD
def test_variant_cells_match_naive_spec(variant, autograd):
    """ARQ without action conditioning (every goodness) and the AD cell, all actions and taken actions."""
    th.manual_seed(0)
    input_dim, width, n_heads, n_actions, batch = 19, 12, 4, 5, 6
    if variant == "ad":
        cell = ADCell(input_dim, width, action_codes(n_actions, "onehot"), CellSpec(n_heads=n_heads))
    else:
        codes = action_codes(n_actions, "onehot")
        cell = OutputConditionedARQCell(input_dim, width, codes, CellSpec(n_heads=n_heads, goodness=variant.split("-")[1]))
    cell = randomise_norm(cell.double())
    x = th.randn(batch, input_dim, dtype=th.float64)
    params = dict(cell.state_dict())
    if variant == "ad":
        expected = naive_q_all_ad(params, x, n_actions, n_heads)
    else:
        expected = naive_q_all_output_conditioned(params, x, n_actions, n_heads, variant.split("-")[1])
    h = cell.activity(x)
    actions = th.randint(n_actions, (batch,))
    with th.set_grad_enabled(autograd):
        q_all, q_taken = cell.q_values(x, h), cell.q_values(x, h, actions)
    rel = ((q_all - expected).abs() / expected.abs().max()).max().item()
    print(f"{variant}: max relative error {rel:.2e}")
    assert rel < 1e-5
    th.testing.assert_close(q_taken, expected[th.arange(batch), actions], rtol=1e-10, atol=1e-12)
    assert sum(p.numel() for p in cell.parameters()) == (
        width * input_dim
        + 3 * width
        + n_heads * width * input_dim
        + n_heads * input_dim * (n_actions if variant == "ad" else n_actions * width)
    )


def test_binary_code_is_pm1_bits_lsb_first():
    codes = action_codes(8, "binary")
    assert codes.tolist()[0] == [-1, -1, -1]
    assert codes.tolist()[1] == [1, -1, -1]  # bit 0 is j = 0
    assert codes.tolist()[6] == [-1, 1, 1]
    assert codes.tolist()[7] == [1, 1, 1]


@pytest.mark.parametrize("n_actions", [1, 3, 6])
def test_binary_code_needs_power_of_two(n_actions):
    with pytest.raises(ValueError, match="power-of-two"):
        action_codes(n_actions, "binary")


def test_q_is_computed_without_tiling_gradients_match_naive():
    """The gradient of the taken action's Q matches the naive implementation's too (what training uses)."""
    th.manual_seed(1)
    cell = ARQCell(11, 8, action_codes(3, "onehot"), CellSpec(n_heads=2)).double()
    x = th.randn(5, 11, dtype=th.float64)
    actions = th.tensor([0, 2, 1, 1, 0])
    cell.q_values(x, cell.activity(x), actions).sum().backward()
    fast = {name: p.grad.clone() for name, p in cell.named_parameters()}
    params = {name: p.detach().clone().requires_grad_(True) for name, p in cell.named_parameters()}
    naive_q_all(params, x, naive_codes(3, "onehot"), 2, "std")[th.arange(5), actions].sum().backward()
    for name, grad in fast.items():
        assert th.allclose(grad, params[name].grad, rtol=1e-6, atol=1e-9), name


@pytest.mark.parametrize(
    "make_cell",
    [
        lambda: ARQCell(5, 4, action_codes(3, "onehot"), CellSpec(n_heads=2)),
        lambda: OutputConditionedARQCell(5, 4, action_codes(3, "onehot"), CellSpec(n_heads=2)),
    ],
)
def test_dead_cell_gets_zero_not_nan_gradients(make_cell):
    """A cell whose activity is all zero (every ReLU off) has Q = 0; its gradients must stay finite."""
    cell = make_cell()
    with th.no_grad():
        cell.hidden.bias.fill_(-100.0)
    x = th.randn(6, 5)
    q = cell.q_values(x, cell.activity(x), th.zeros(6, dtype=th.long))
    assert (q == 0).all()
    q.sum().backward()
    assert all(th.isfinite(p.grad).all() for p in cell.parameters())


def test_compiled_cell_matches_eager():
    """compile_cells: the torch.compile'd product gives the eager values and gradients (float rounding aside)."""
    th.manual_seed(0)
    eager = ARQCell(9, 6, action_codes(3, "onehot"), CellSpec(n_heads=2))
    compiled = ARQCell(9, 6, action_codes(3, "onehot"), CellSpec(n_heads=2, compile_cells=True))
    compiled.load_state_dict(eager.state_dict())
    x, actions = th.randn(5, 9), th.tensor([0, 1, 2, 1, 0])
    for cell in (eager, compiled):
        cell.q_values(x, cell.activity(x), actions).sum().backward()
    th.testing.assert_close(compiled.q_values(x, compiled.activity(x)), eager.q_values(x, eager.activity(x)))
    for p, q in zip(compiled.parameters(), eager.parameters(), strict=True):
        th.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cls", [cls for conditionings in CELLS.values() for cls in conditionings.values()])
def test_unknown_goodness_passed_to_a_cell_is_refused(cls):
    with pytest.raises(ValueError, match="goodness"):
        cls(5, 4, action_codes(3, "onehot"), CellSpec(n_heads=2, goodness="l2"))


def test_cell_registry():
    assert cell_class("arq") is ARQCell and cell_class("arq", "output") is OutputConditionedARQCell
    assert cell_class("ad") is ADCell
    with pytest.raises(ValueError, match=r"cell_type must be one of \['arq', 'ad'\]"):
        cell_class("mlp")
    with pytest.raises(ValueError, match=r"action_conditioning must be one of \['output'\] for cell_type='ad'"):
        cell_class("ad", "input")
