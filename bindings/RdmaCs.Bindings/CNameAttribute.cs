namespace RdmaCs.Bindings;

/// <summary>
/// How C spells the type a generated struct stands for (<c>struct fi_info</c>, or a typedef name), so that
/// the layout test can ask the C compiler for the same type's size and offsets.
/// </summary>
[AttributeUsage(AttributeTargets.Struct)]
public sealed class CNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}
