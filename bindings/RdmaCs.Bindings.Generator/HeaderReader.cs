using System.Text;
using System.Text.RegularExpressions;
using RdmaCs.Bindings.Generator.Clang;
using static RdmaCs.Bindings.Generator.Clang.LibClang;

namespace RdmaCs.Bindings.Generator;

/// <summary>
/// Parses C headers with libclang and collects what the C# side needs: every struct and union (with clang's
/// sizes and offsets), enum, integer-valued macro, and exported (not <c>static inline</c>) function
/// declared in them, plus every record those reach.
/// </summary>
internal sealed unsafe partial class HeaderReader : IDisposable
{
    private readonly GeneratorSettings _settings;
    private readonly void* _index;
    private readonly List<nint> _units = [];
    private readonly CModel _model = new();
    private readonly Dictionary<string, string> _recordNames = new();    // declaration key → C# name
    private readonly Dictionary<string, string> _enumNames = new();      // declaration key → C# name
    private readonly Dictionary<string, string> _typedefNames = new();   // anonymous record/enum key → typedef name

    public HeaderReader(GeneratorSettings settings)
    {
        _settings = settings;
        _index = clang_createIndex(0, 0);
    }

    public static CModel Read(GeneratorSettings settings)
    {
        using var reader = new HeaderReader(settings);
        return reader.ReadAll();
    }

    public void Dispose()
    {
        foreach (nint unit in _units)
        {
            clang_disposeTranslationUnit((void*)unit);
        }
        clang_disposeIndex(_index);
    }

    private CModel ReadAll()
    {
        string includes = string.Concat(_settings.Headers.Select(header => $"#include <{header}>\n"));
        CXCursor root = clang_getTranslationUnitCursor(Parse(includes, failOnErrors: true));
        List<CXCursor> declarations = [.. root.Children().Where(IsInOurHeaders)];

        foreach (CXCursor typedef in declarations.Where(c => c.Kind() == CursorKind.TypedefDecl))
        {
            CXCursor target = clang_getTypeDeclaration(clang_getTypedefDeclUnderlyingType(typedef).Desugared());
            if (target.Kind() is CursorKind.StructDecl or CursorKind.UnionDecl or CursorKind.EnumDecl && IsAnonymous(target))
            {
                _typedefNames.TryAdd(target.Key(), typedef.Spelling());
            }
        }

        var macros = new List<(string Name, string Origin)>();
        foreach (CXCursor declaration in declarations)
        {
            switch (declaration.Kind())
            {
                case CursorKind.StructDecl or CursorKind.UnionDecl when clang_isCursorDefinition(declaration) != 0:
                    if (!IsAnonymous(declaration) || _typedefNames.ContainsKey(declaration.Key()))
                    {
                        RecordName(declaration.Type(), null);
                    }
                    break;
                case CursorKind.EnumDecl when clang_isCursorDefinition(declaration) != 0:
                    ReadEnum(declaration);
                    break;
                case CursorKind.FunctionDecl when _settings.Library is not null:
                    ReadFunction(declaration);
                    break;
                case CursorKind.MacroDefinition when clang_Cursor_isMacroFunctionLike(declaration) == 0:
                    string name = declaration.Spelling();
                    if (Regex.IsMatch(name, _settings.MacroPattern) && macros.All(m => m.Name != name))
                    {
                        macros.Add((name, Origin(declaration)));
                    }
                    break;
            }
        }
        ReadMacroValues(includes, macros);
        return _model;
    }

    /// <summary>
    /// Macros have no value until used: a second translation unit declares one probe variable per macro and
    /// clang evaluates each. Macros that are not integer constants (types, strings, expressions with
    /// arguments) fail to compile or to evaluate and are left out.
    /// </summary>
    private void ReadMacroValues(string includes, List<(string Name, string Origin)> macros)
    {
        var probe = new StringBuilder(includes);
        foreach ((string name, _) in macros)
        {
            probe.Append($"__auto_type rdmacs_probe_{name} = ({name});\n");
        }
        CXCursor root = clang_getTranslationUnitCursor(Parse(probe.ToString(), failOnErrors: false));
        var origins = macros.ToDictionary(m => m.Name, m => m.Origin);
        var known = new HashSet<string>(_model.Enums.SelectMany(e => e.Members.Select(m => m.Name)).Concat(_model.Constants.Select(c => c.Name)));
        foreach (CXCursor variable in root.Children().Where(c => c.Kind() == CursorKind.VarDecl))
        {
            string name = variable.Spelling();
            if (!name.StartsWith("rdmacs_probe_", StringComparison.Ordinal) || clang_isInvalidDeclaration(variable) != 0)
            {
                continue;
            }
            name = name["rdmacs_probe_".Length..];
            void* result = clang_Cursor_Evaluate(variable);
            if (result == null)
            {
                continue;
            }
            try
            {
                if (clang_EvalResult_getKind(result) != EvalInt || !known.Add(name))
                {
                    continue;
                }
                int kind = variable.Type().Canonical().Kind;
                (string type, string value) = kind switch
                {
                    TypeKind.ULong or TypeKind.ULongLong => ("ulong", $"0x{clang_EvalResult_getAsUnsigned(result):x}UL"),
                    TypeKind.UInt => ("uint", $"0x{clang_EvalResult_getAsUnsigned(result):x}U"),
                    TypeKind.Long or TypeKind.LongLong => ("long", $"{clang_EvalResult_getAsLongLong(result)}L"),
                    _ => ("int", $"{clang_EvalResult_getAsLongLong(result)}"),
                };
                _model.Constants.Add(new CConstant(name, type, value, origins[name]));
            }
            finally
            {
                clang_EvalResult_dispose(result);
            }
        }
    }

    private void ReadEnum(CXCursor declaration)
    {
        string? name = IsAnonymous(declaration) ? _typedefNames.GetValueOrDefault(declaration.Key()) : declaration.Spelling();
        string underlying = Primitive(clang_getEnumDeclIntegerType(declaration).Canonical().Kind)
            ?? throw new NotSupportedException($"enum {name}: underlying type");
        bool unsigned = underlying.StartsWith('u');
        var members = declaration.Children()
            .Where(c => c.Kind() == CursorKind.EnumConstantDecl)
            .Select(c => (c.Spelling(), unsigned
                ? clang_getEnumConstantDeclUnsignedValue(c).ToString(System.Globalization.CultureInfo.InvariantCulture)
                : clang_getEnumConstantDeclValue(c).ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();
        if (name is null)
        {
            // An anonymous enum is a list of constants.
            foreach ((string member, string value) in members)
            {
                _model.Constants.Add(new CConstant(member, underlying, value, Origin(declaration)));
            }
            return;
        }
        if (_enumNames.TryAdd(declaration.Key(), name))
        {
            _model.Enums.Add(new CEnum(name, underlying, members, Origin(declaration)));
        }
    }

    private void ReadFunction(CXCursor declaration)
    {
        if (clang_Cursor_getStorageClass(declaration) == StorageStatic || clang_Cursor_isFunctionInlined(declaration) != 0)
        {
            return; // static inline: reached through the ops tables, never exported
        }
        CXType type = declaration.Type();
        if (clang_isFunctionTypeVariadic(type) != 0)
        {
            return;
        }
        string name = declaration.Spelling();
        if (_model.Functions.Any(f => f.Name == name))
        {
            return;
        }
        List<string> names = [.. declaration.Children().Where(c => c.Kind() == 10 /* ParmDecl */).Select(c => c.Spelling())];
        var parameters = new List<(string, string)>();
        for (uint i = 0; i < clang_getNumArgTypes(type); i++)
        {
            string parameter = i < names.Count && names[(int)i].Length > 0 ? names[(int)i] : $"arg{i}";
            parameters.Add((MapType(clang_getArgType(type, i), null), Identifier(parameter)));
        }
        _model.Functions.Add(new CFunction(name, MapType(clang_getResultType(type), null), parameters, Origin(declaration)));
    }

    private void* Parse(string source, bool failOnErrors)
    {
        const string FileName = "rdmacs-bindings.c";
        string[] arguments = ["-x", "c", "-std=gnu11", .. _settings.ClangArguments];
        byte[] file = Encoding.UTF8.GetBytes(FileName + "\0");
        byte[] contents = Encoding.UTF8.GetBytes(source + "\0");
        byte[][] argumentBytes = [.. arguments.Select(a => Encoding.UTF8.GetBytes(a + "\0"))];
        var pins = new List<System.Runtime.InteropServices.GCHandle>();
        try
        {
            byte** argv = stackalloc byte*[argumentBytes.Length];
            for (int i = 0; i < argumentBytes.Length; i++)
            {
                var pin = System.Runtime.InteropServices.GCHandle.Alloc(argumentBytes[i], System.Runtime.InteropServices.GCHandleType.Pinned);
                pins.Add(pin);
                argv[i] = (byte*)pin.AddrOfPinnedObject();
            }
            fixed (byte* fileName = file, text = contents)
            {
                var unsaved = new CXUnsavedFile { Filename = fileName, Contents = text, Length = (nuint)(contents.Length - 1) };
                void* unit = clang_parseTranslationUnit(_index, fileName, argv, argumentBytes.Length, &unsaved, 1,
                    DetailedPreprocessingRecord | SkipFunctionBodies);
                if (unit == null)
                {
                    throw new InvalidOperationException("libclang could not parse the headers");
                }
                _units.Add((nint)unit);
                if (failOnErrors)
                {
                    ThrowOnErrors(unit);
                }
                return unit;
            }
        }
        finally
        {
            pins.ForEach(pin => pin.Free());
        }
    }

    private static void ThrowOnErrors(void* unit)
    {
        var errors = new List<string>();
        for (uint i = 0; i < clang_getNumDiagnostics(unit); i++)
        {
            void* diagnostic = clang_getDiagnostic(unit, i);
            if (clang_getDiagnosticSeverity(diagnostic) >= 3)
            {
                errors.Add(Take(clang_formatDiagnostic(diagnostic, 0x1 | 0x2)));
            }
            clang_disposeDiagnostic(diagnostic);
        }
        if (errors.Count > 0)
        {
            throw new InvalidOperationException("the headers did not compile:\n" + string.Join("\n", errors));
        }
    }

    private bool IsInOurHeaders(CXCursor cursor)
    {
        string file = cursor.Location().File;
        return _settings.Headers.Any(header => file == Path.Combine(_settings.IncludeDirectory, header));
    }

    private static bool IsAnonymous(CXCursor declaration)
    {
        string spelling = declaration.Spelling();
        return spelling.Length == 0 || spelling.Contains("(anonymous", StringComparison.Ordinal) || spelling.Contains("(unnamed", StringComparison.Ordinal);
    }

    private string Origin(CXCursor cursor)
    {
        (string file, uint line, _) = cursor.Location();
        return $"{Path.GetRelativePath(_settings.IncludeDirectory, file)}:{line}";
    }
}
