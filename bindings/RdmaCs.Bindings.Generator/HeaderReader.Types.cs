using System.Text;
using RdmaCs.Bindings.Generator.Clang;
using static RdmaCs.Bindings.Generator.Clang.LibClang;

namespace RdmaCs.Bindings.Generator;

// Mapping C types to blittable C# types: primitives by size, pointers as pointers, function pointers as
// delegate* unmanaged, records as explicit-layout structs at clang's offsets, arrays as fixed buffers or
// inline arrays. Records are collected as they are reached.
internal sealed unsafe partial class HeaderReader
{
    // Typedefs kept by name because their C# spelling says more than the canonical type does.
    private static readonly Dictionary<string, string> NamedTypedefs = new()
    {
        ["size_t"] = "nuint", ["ssize_t"] = "nint", ["uintptr_t"] = "nuint", ["intptr_t"] = "nint",
        ["uint8_t"] = "byte", ["int8_t"] = "sbyte", ["uint16_t"] = "ushort", ["int16_t"] = "short",
        ["uint32_t"] = "uint", ["int32_t"] = "int", ["uint64_t"] = "ulong", ["int64_t"] = "long",
    };

    private static readonly HashSet<string> Keywords =
    [
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const",
        "continue", "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern",
        "false", "finally", "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface",
        "internal", "is", "lock", "long", "namespace", "new", "null", "object", "operator", "out", "override",
        "params", "private", "protected", "public", "readonly", "ref", "return", "sbyte", "sealed", "short",
        "sizeof", "stackalloc", "static", "string", "struct", "switch", "this", "throw", "true", "try", "typeof",
        "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void", "volatile", "while",
    ];

    public static string Identifier(string name) => Keywords.Contains(name) ? "@" + name : name;

    /// <summary>The C# type for a C type. <paramref name="suggestedName"/> names an anonymous record reached here.</summary>
    private string MapType(CXType type, string? suggestedName)
    {
        type = type.Desugared();
        if (type.Kind == TypeKind.Typedef)
        {
            string typedefName = type.Spelling().Replace("const ", "", StringComparison.Ordinal).Trim();
            if (NamedTypedefs.TryGetValue(typedefName, out string? named))
            {
                return named;
            }
            CXCursor declaration = clang_getTypeDeclaration(type);
            return MapType(clang_getTypedefDeclUnderlyingType(declaration), typedefName);
        }
        if (Primitive(type.Kind) is { } primitive)
        {
            return primitive;
        }
        switch (type.Kind)
        {
            case TypeKind.Void:
                return "void";
            case TypeKind.Pointer:
                CXType pointee = clang_getPointeeType(type);
                CXType function = WithoutTypedefs(pointee);
                if (function.Kind is TypeKind.FunctionProto or TypeKind.FunctionNoProto)
                {
                    return FunctionPointer(function);
                }
                return MapType(pointee, null) + "*";
            case TypeKind.Record:
                return RecordName(type, suggestedName);
            case TypeKind.Enum:
                CXCursor enumDeclaration = clang_getTypeDeclaration(type);
                ReadEnum(enumDeclaration);
                return _enumNames.GetValueOrDefault(enumDeclaration.Key())
                    ?? Primitive(clang_getEnumDeclIntegerType(enumDeclaration).Canonical().Kind)!;
            default:
                throw new NotSupportedException($"C type '{type.Spelling()}' (kind {type.Kind}) has no C# mapping");
        }
    }

    private static string? Primitive(int kind) => kind switch
    {
        TypeKind.Bool or TypeKind.UChar or TypeKind.Char_U => "byte",
        TypeKind.Char_S or TypeKind.SChar => "sbyte",
        TypeKind.Short => "short",
        TypeKind.UShort => "ushort",
        TypeKind.Int => "int",
        TypeKind.UInt => "uint",
        TypeKind.Long or TypeKind.LongLong => "long",     // LP64: C long is 64 bits on every target we build for
        TypeKind.ULong or TypeKind.ULongLong => "ulong",
        TypeKind.Float => "float",
        TypeKind.Double => "double",
        _ => null,
    };

    private static CXType WithoutTypedefs(CXType type)
    {
        type = type.Desugared();
        while (type.Kind == TypeKind.Typedef)
        {
            type = clang_getTypedefDeclUnderlyingType(clang_getTypeDeclaration(type)).Desugared();
        }
        return type;
    }

    private string FunctionPointer(CXType function)
    {
        if (function.Kind == TypeKind.FunctionNoProto || clang_isFunctionTypeVariadic(function) != 0)
        {
            return "void*"; // no fixed signature to call through
        }
        var parts = new List<string>();
        for (uint i = 0; i < clang_getNumArgTypes(function); i++)
        {
            parts.Add(MapType(clang_getArgType(function, i), null));
        }
        parts.Add(MapType(clang_getResultType(function), null));
        return $"delegate* unmanaged<{string.Join(", ", parts)}>";
    }

    /// <summary>The C# name of a record type; collects the record (fields, size) the first time.</summary>
    private string RecordName(CXType type, string? suggestedName)
    {
        CXCursor declaration = clang_getTypeDeclaration(type.Desugared());
        CXCursor definition = clang_getCursorDefinition(declaration);
        bool opaque = definition.Kind() is < CursorKind.StructDecl or > CursorKind.UnionDecl;
        CXCursor key = opaque ? declaration : definition;
        if (_recordNames.TryGetValue(key.Key(), out string? known))
        {
            return known;
        }

        bool anonymous = IsAnonymous(declaration);
        string? typedefName = _typedefNames.GetValueOrDefault(key.Key());
        string name = anonymous
            ? typedefName ?? suggestedName ?? throw new NotSupportedException($"anonymous record at {Origin(declaration)} has no name")
            : declaration.Spelling();
        _recordNames[key.Key()] = name;

        bool isUnion = declaration.Kind() == CursorKind.UnionDecl;
        // The C spelling the layout test can write: a tag, a typedef, or nothing for a nested anonymous type.
        string cName = anonymous ? typedefName ?? "" : $"{(isUnion ? "union" : "struct")} {name}";
        var fields = new List<CField>();
        long size = 0;
        if (!opaque)
        {
            size = clang_Type_getSizeOf(type.Desugared());
            CollectFields(definition, definition.Type(), name, fields);
        }
        _model.Records.Add(new CRecord(name, cName, isUnion, size, opaque, fields, Origin(declaration)));
        return name;
    }

    /// <summary>
    /// The fields of a record, with those of anonymous members (<c>union { ... };</c>) lifted into it at their
    /// offsets in <paramref name="outer"/>, as C lets code name them.
    /// </summary>
    private void CollectFields(CXCursor record, CXType outer, string ownerName, List<CField> fields)
    {
        foreach (CXCursor child in record.Children())
        {
            int kind = child.Kind();
            if (kind is CursorKind.StructDecl or CursorKind.UnionDecl && clang_Cursor_isAnonymousRecordDecl(child) != 0)
            {
                CollectFields(child, outer, ownerName, fields);
                continue;
            }
            if (kind != CursorKind.FieldDecl)
            {
                continue;
            }
            string fieldName = child.Spelling();
            if (clang_Cursor_isBitField(child) != 0)
            {
                throw new NotSupportedException($"{ownerName}.{fieldName} is a bit-field; bit-fields have no C# mapping");
            }
            long offset = OffsetOf(outer, fieldName);
            CXType fieldType = child.Type().Desugared();
            CXType bare = WithoutTypedefs(fieldType);
            if (bare.Kind == TypeKind.IncompleteArray)
            {
                fields.Add(new CField(Identifier(fieldName), "", offset,
                    Comment: $"{fieldName}[]: flexible array member, starts at offset {offset}; reach it by pointer arithmetic"));
                continue;
            }
            if (bare.Kind == TypeKind.ConstantArray)
            {
                long length = clang_getArraySize(bare);
                string element = MapType(clang_getArrayElementType(bare), $"{ownerName}_{fieldName}_element");
                if (Primitive(WithoutTypedefs(clang_getArrayElementType(bare)).Canonical().Kind) is not null)
                {
                    fields.Add(new CField(Identifier(fieldName), element, offset, (int)length));
                }
                else
                {
                    string arrayName = $"{SafeName(element)}_x{length}";
                    _model.InlineArrays.TryAdd(arrayName, new CInlineArray(arrayName, element.EndsWith('*') ? "nint" : element, length));
                    fields.Add(new CField(Identifier(fieldName), arrayName, offset));
                }
                continue;
            }
            fields.Add(new CField(Identifier(fieldName), MapType(fieldType, $"{ownerName}_{fieldName}"), offset));
        }
    }

    private static long OffsetOf(CXType outer, string fieldName)
    {
        byte[] name = Encoding.UTF8.GetBytes(fieldName + "\0");
        fixed (byte* text = name)
        {
            long bits = clang_Type_getOffsetOf(outer, text);
            if (bits < 0 || bits % 8 != 0)
            {
                throw new NotSupportedException($"offset of {outer.Spelling()}.{fieldName}: {bits}");
            }
            return bits / 8;
        }
    }

    private static string SafeName(string type) => type.EndsWith('*') ? "nint" : type.Replace("*", "_ptr", StringComparison.Ordinal);
}
