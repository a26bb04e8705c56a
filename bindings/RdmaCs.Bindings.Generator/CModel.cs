namespace RdmaCs.Bindings.Generator;

/// <summary>A struct or union as C# will declare it: explicit layout, every field at clang's offset.</summary>
internal sealed record CRecord(string Name, string CName, bool IsUnion, long Size, bool Opaque, List<CField> Fields, string Origin);

/// <summary>A field; <paramref name="FixedCount"/> makes it a fixed buffer of that many elements.</summary>
internal sealed record CField(string Name, string Type, long Offset, int? FixedCount = null, string? Comment = null);

internal sealed record CEnum(string Name, string UnderlyingType, List<(string Name, string Value)> Members, string Origin);

internal sealed record CConstant(string Name, string Type, string Value, string Origin);

internal sealed record CFunction(string Name, string ReturnType, List<(string Type, string Name)> Parameters, string Origin);

/// <summary>A fixed-length array of a type C# cannot put in a fixed buffer (pointers, structs).</summary>
internal sealed record CInlineArray(string Name, string ElementType, long Length);

internal sealed class CModel
{
    public List<CRecord> Records { get; } = [];
    public List<CEnum> Enums { get; } = [];
    public List<CConstant> Constants { get; } = [];
    public List<CFunction> Functions { get; } = [];
    public SortedDictionary<string, CInlineArray> InlineArrays { get; } = new(StringComparer.Ordinal);
}
