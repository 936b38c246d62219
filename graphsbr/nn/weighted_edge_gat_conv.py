r"""PyG's ``GATConv`` for a large static graph with low-dimensional edge features, without per-edge ``[E, C]``
tensors: the aggregation is a CSR sparse-dense product."""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv
from torch_geometric.utils import softmax


class WeightedEdgeGATConv(GATConv):
    r"""PyG's :class:`~torch_geometric.nn.GATConv` (same parameters, state dict and outputs) with a faster forward
    pass for a large static graph.

    ``GATConv`` materialises ``[E, heads * out_channels]`` tensors per edge: the projected edge features of the
    score :math:`a_e^\top W_e e_{ij}` and the messages :math:`\alpha_{ij} W h_j`, and their gradients. Over an
    item graph of 500k edges and :math:`d = 256` each is 0.5 GB and a training step takes seconds. Here

    * the edge term is :math:`e_{ij}^\top (W_e^\top a_e)`, an ``[E, edge_dim] @ [edge_dim, heads]`` product;
    * the aggregation :math:`\sum_j \alpha_{ij} W h_j` is a sparse-dense product over the CSR rows whose backward is
      the transposed product (for :math:`W h`) and a sampled dense-dense product (for :math:`\alpha`)
      (:class:`SparseAggregation`); nothing of size ``[E, out_channels]`` is built.

    As ``GCNConv(cached=True)`` does with its normalisation, the CSR structure of ``edge_index`` is computed on the
    first call and reused while the same ``edge_index`` tensor is passed (a static graph: do not modify it in
    place). Supports single-tensor inputs and ``add_self_loops=False`` (add the loops to the graph beforehand); no
    ``return_attention_weights``.

    Args:
        in_channels, out_channels, **kwargs: as ``GATConv`` (``heads``, ``concat``, ``negative_slope``,
            ``dropout``, ``edge_dim``, ``bias``, ``residual``), with ``add_self_loops=False``.

    Shapes:
        input: ``x [N, in_channels]``, ``edge_index [2, E]``, ``edge_attr [E, edge_dim]`` or ``[E]``.
        output: ``[N, heads * out_channels]`` (``[N, out_channels]`` when ``concat=False``).
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        if not isinstance(in_channels, int) or kwargs.get("add_self_loops", True):
            raise ValueError("WeightedEdgeGATConv takes one input size and add_self_loops=False")
        super().__init__(in_channels, out_channels, **kwargs)
        self._structure: tuple | None = None

    def structure(self, edge_index: Tensor, num_nodes: int) -> CSRStructure:
        key = (edge_index.data_ptr(), edge_index.size(1), num_nodes, edge_index.device)
        if self._structure is None or self._structure[0] != key:
            self._structure = (key, CSRStructure(edge_index, num_nodes))
        return self._structure[1]

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        heads, channels, n = self.heads, self.out_channels, x.size(0)
        csr = self.structure(edge_index, n)
        h = self.lin(x).view(n, heads, channels)
        attend = torch.einsum("nhc,hc->nh", h, self.att_src[0]), torch.einsum("nhc,hc->nh", h, self.att_dst[0])
        alpha = self._alpha(attend, edge_attr, csr)
        parts = [SparseAggregation.apply(alpha[:, k].float(), h[:, k].float(), csr) for k in range(heads)]
        out = (parts[0].unsqueeze(1) if heads == 1 else torch.stack(parts, 1)).to(h.dtype)  # [N, heads, C]
        out = out.reshape(n, heads * channels) if self.concat else out.mean(1)
        if self.res is not None:
            out = out + self.res(x)
        return out if self.bias is None else out + self.bias

    def aggregate(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        r""":math:`A(\alpha)\,x`, the attention-weighted sum of the *unprojected* inputs, so that
        ``forward(x) == lin(aggregate(x)) + bias`` up to rounding (one head, no residual). The attention logits
        :math:`a^\top W x_j` are computed as :math:`x_j^\top (W^\top a)`, so :math:`W x` is never built
        (see :class:`~graphsbr.nn.projected_table.ProjectedTable`).

        Shapes:
            output: ``[N, in_channels]``.
        """
        if self.heads != 1 or self.res is not None:
            raise ValueError("aggregate() needs one head and no residual")
        csr = self.structure(edge_index, x.size(0))
        vectors = torch.cat([self.att_src.view(1, -1), self.att_dst.view(1, -1)]) @ self.lin.weight  # [2, in]
        attend = (x @ vectors.T).split(1, dim=1)  # the source and target logits, [N, 1] each
        alpha = self._alpha(attend, edge_attr, csr)
        return SparseAggregation.apply(alpha[:, 0].float(), x.float(), csr).to(x.dtype)

    def _alpha(self, attend: tuple[Tensor, Tensor], edge_attr: Tensor | None, csr: CSRStructure) -> Tensor:
        """``[E, heads]`` the attention weights in CSR order from per-node logits ``attend`` (source, target)."""
        heads, channels = self.heads, self.out_channels
        score = attend[0][csr.source] + attend[1][csr.target]  # [E, heads]
        if edge_attr is not None and self.lin_edge is not None:
            per_head = (self.lin_edge.weight.view(heads, channels, -1) * self.att_edge.view(heads, channels, 1)).sum(1)
            score = score + edge_attr.view(edge_attr.size(0), -1)[csr.order] @ per_head.T
        alpha = softmax(F.leaky_relu(score, self.negative_slope), csr.target, num_nodes=csr.num_nodes)
        return F.dropout(alpha, p=self.dropout, training=self.training)


class CSRStructure:
    """The CSR layout of a graph's edges (rows = targets) and of its transpose, for :class:`SparseAggregation`.

    Attributes:
        order: ``[E]`` the edges sorted by ``(target, source)``: CSR position -> edge.
        source, target: ``[E]`` the endpoints in CSR order.
        crow: ``[N+1]`` row pointers.
        transpose: ``[E]`` CSR positions sorted by ``(source, target)``.
        transposed_crow, transposed_col: the transpose's row pointers and columns (targets).
    """

    def __init__(self, edge_index: Tensor, num_nodes: int):
        source, target = edge_index
        self.num_nodes = num_nodes
        self.order = torch.argsort(target * num_nodes + source)
        self.source, self.target = source[self.order], target[self.order]
        nodes = torch.arange(num_nodes + 1, device=edge_index.device)
        self.crow = torch.searchsorted(self.target, nodes)
        self.transpose = torch.argsort(self.source * num_nodes + self.target)
        self.transposed_col = self.target[self.transpose]
        self.transposed_crow = torch.searchsorted(self.source[self.transpose], nodes)

    def matrix(self, values: Tensor) -> Tensor:
        """The sparse ``[N, N]`` CSR matrix with ``values`` (CSR order) at ``(target, source)``."""
        with warnings.catch_warnings():  # torch warns once that sparse CSR support is in beta
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(self.crow, self.source, values, (self.num_nodes, self.num_nodes),
                                           check_invariants=False)


class SparseAggregation(torch.autograd.Function):
    r""":math:`\mathrm{out}_i = \sum_{e = (j \to i)} v_e x_j`, a sparse-dense product, differentiable in :math:`v` and
    :math:`x`: :math:`\partial x = A^\top \partial\mathrm{out}` and
    :math:`\partial v_e = \langle \partial\mathrm{out}_i, x_j\rangle` (a sampled dense-dense product).

    Both products run as a weighted ``embedding_bag`` over the CSR rows (target ``i``'s bag holds its sources ``j``
    with weights :math:`v_e`; the transpose's bags its targets): on the CPU twice as fast as ``torch.sparse``'s CSR
    product, with the same sums.

    Shapes:
        input: ``values [E]`` in the CSR order of ``structure``, ``x [N, C]``.
        output: ``[N, C]``.
    """

    @staticmethod
    def forward(ctx, values: Tensor, x: Tensor, structure: CSRStructure) -> Tensor:
        ctx.dtypes = values.dtype, x.dtype
        values, x = values.float(), x.float()  # the kernels run in float32 (under autocast too)
        ctx.save_for_backward(values, x)
        ctx.structure = structure
        with torch.autocast(x.device.type, enabled=False):
            return F.embedding_bag(structure.source, x, structure.crow[:-1], mode="sum", per_sample_weights=values)

    @staticmethod
    def backward(ctx, grad: Tensor):
        values, x = ctx.saved_tensors
        structure = ctx.structure
        grad_values = grad_x = None
        grad = grad.float().contiguous()
        with torch.autocast(grad.device.type, enabled=False):
            if ctx.needs_input_grad[0]:
                pattern = structure.matrix(torch.ones_like(values))
                grad_values = torch.sparse.sampled_addmm(pattern, grad, x.T, beta=0.0).values()
                grad_values = grad_values.to(ctx.dtypes[0])
            if ctx.needs_input_grad[1]:
                grad_x = F.embedding_bag(structure.transposed_col, grad, structure.transposed_crow[:-1], mode="sum",
                                         per_sample_weights=values[structure.transpose]).to(ctx.dtypes[1])
        return grad_values, grad_x, None
