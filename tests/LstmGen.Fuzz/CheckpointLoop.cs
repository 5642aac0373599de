using System;
using System.Collections.Generic;
using System.Globalization;
using LstmGen.Weights;

namespace LstmGen.Fuzz;

/// <summary>
/// The child process of the killed-mid-save test: saves checkpoints of 4 M parameters (16 MB) to one path in a loop,
/// save number n setting every value to n and the metadata "save" to n, and prints "saved n" after each.
/// </summary>
public static class CheckpointLoop
{
    /// <summary>The parameters every save writes: one tensor of 4096 × 1024 values.</summary>
    public static LstmParameters CreateParameters() => new([("weight", 4096, 1024)]);

    public static int Run(string path)
    {
        var parameters = CreateParameters();
        for (int save = 1; save < int.MaxValue; save++)
        {
            parameters.GetWritableValues().Fill(save);
            string n = save.ToString(CultureInfo.InvariantCulture);
            Checkpoint.Save(path, parameters, null, new Dictionary<string, string> { ["save"] = n });
            Console.WriteLine("saved " + n);
            Console.Out.Flush();
        }
        return 0;
    }
}
